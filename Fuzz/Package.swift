// swift-tools-version:6.0
import PackageDescription

// The libFuzzer driver: one executable, every target of FuzzTargets behind BALE_FUZZ_TARGET. Built only
// by `make fuzz` (and the short pass of `make test`), with
//   swift build --package-path Fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
// A package of its own because the driver cannot link without those flags (libFuzzer supplies main),
// and the main package's `swift build` must not need them.
let package = Package(
    name: "BaleFuzz",
    dependencies: [
        .package(name: "bale", path: ".."),
    ],
    targets: [
        .executableTarget(name: "BaleFuzz", dependencies: [.product(name: "FuzzTargets", package: "bale")],
                          path: "Driver"),
    ]
)
