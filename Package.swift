// swift-tools-version:6.0
import PackageDescription

// Dependencies run one way: bale → BaleCLI → Bale → BaleIO → BaleCore.
// C types appear only in BaleIO (through the four system-library targets).
let package = Package(
    name: "bale",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bale", targets: ["bale"]),
        // For Fuzz/Package.swift, which builds the libFuzzer driver with the sanitizers (a package of
        // its own, so that the flags it needs never reach this one's build).
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // The registry client (docker://): streaming bodies both ways, TLS with a private CA and client
        // certificates through swift-nio-ssl, connection reuse.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // `bale sync`'s list: skopeo sync's YAML, and its images-by-semver tags read as versions.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/mxcl/Version.git", from: "2.2.1"),
    ],
    targets: [
        // Linux calls Swift's Glibc module leaves out (sync_file_range, xattrs); nothing to link.
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLzma", path: "Sources/CLzma", pkgConfig: "liblzma",
                       providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CIsal", path: "Sources/CIsal", pkgConfig: "libisal",
                       providers: [.apt(["libisal-dev"])]),

        .target(name: "BaleCore"),
        .target(name: "BaleIO", dependencies: [
            "BaleCore", "CArchive", "CZlib", "CLzma", "CIsal", "CLinux",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Bale", dependencies: [
            "BaleCore", "BaleIO",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            // `bale serve`: the listening side (already built for async-http-client).
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Version", package: "Version"),
        ]),
        .target(name: "BaleCLI", dependencies: [
            "Bale", "BaleCore", "BaleIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "bale", dependencies: ["BaleCLI"]),
        // The entry points `make fuzz` drives, and FuzzRegressionTests replays over testdata/fuzz/.
        .target(name: "FuzzTargets", dependencies: ["Bale", "BaleIO", "BaleCore"], path: "Fuzz/Targets"),

        // The one process runner the test targets share (a plain target: test targets cannot depend on
        // one another).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "BaleCoreTests", dependencies: ["BaleCore"]),
        .testTarget(name: "BaleIOTests", dependencies: ["BaleIO", "BaleCore", "TestSupport"]),
        .testTarget(name: "BaleTests", dependencies: ["Bale", "BaleIO", "BaleCore", "TestSupport"]),
        .testTarget(name: "BaleCLITests", dependencies: ["BaleCLI", "Bale", "BaleCore", "TestSupport"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "InteropTests", dependencies: ["Bale", "BaleIO", "BaleCore", "TestSupport"]),
        // The import and layering rules of the source tree (reads Sources/ as text; links nothing of bale).
        .testTarget(name: "ArchitectureTests"),
    ]
)
