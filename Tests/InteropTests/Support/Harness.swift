import Foundation
import TestSupport

// Runs the built `bale` executable and its peers (skopeo, umoci, oci-image-tool, python3) for the
// interop tests, through the shared runner in Tests/TestSupport. `Harness` keeps the names the
// interop tests call; each forwards to `ProcessRunner`.

typealias RunResult = TestSupport.RunResult
typealias HarnessError = TestSupport.HarnessError

enum Harness {
    /// The package root.
    static var packageRoot: URL { ProcessRunner.packageRoot }

    /// In CI (`CI=true`, as `.ci/run` sets) a missing peer fails the test instead of skipping it.
    static var isCI: Bool { ProcessRunner.isCI }

    /// The bale executable: `$BALE_BIN`, else `bale` beside the running test bundle, else
    /// `<package root>/.build/debug/bale`.
    static func baleBinary() throws -> URL { try ProcessRunner.baleBinary() }

    /// The first executable called `name` on `$PATH`, or nil.
    static func which(_ name: String) -> URL? { ProcessRunner.which(name) }

    /// For `.enabled(if:)`: true when every peer is installed, and always true in CI so that the
    /// test runs and `requirePeer` fails it there (in CI a missing peer is a failure, not a skip).
    static func peersAvailable(_ names: String...) -> Bool { ProcessRunner.peersAvailable(names) }

    /// The peer's path; throws (failing the test) when it is not installed.
    static func requirePeer(_ name: String) throws -> URL { try ProcessRunner.requirePeer(name) }

    /// Runs `executable` and waits for it (see `ProcessRunner.run`).
    static func run(
        _ executable: URL, _ arguments: [String], stdin: Data? = nil,
        environment: [String: String?] = [:], currentDirectory: URL? = nil,
        timeout: TimeInterval = 300
    ) throws -> RunResult {
        try ProcessRunner.run(executable, arguments, stdin: stdin, environment: environment,
                              currentDirectory: currentDirectory, timeout: timeout)
    }

    /// Runs bale with `--root root` in front of `arguments` (when a root is given).
    static func bale(
        _ arguments: [String], root: URL? = nil, stdin: Data? = nil,
        environment: [String: String?] = [:]
    ) throws -> RunResult {
        let prefix = root.map { ["--root", $0.path] } ?? []
        return try ProcessRunner.bale(prefix + arguments, stdin: stdin, environment: environment)
    }

    /// Runs an installed peer (skopeo, umoci, oci-image-tool, …); throws when it is missing.
    static func peer(_ name: String, _ arguments: [String], stdin: Data? = nil) throws -> RunResult {
        try ProcessRunner.run(try ProcessRunner.requirePeer(name), arguments, stdin: stdin)
    }

    /// Calls `body` with a fresh empty directory and removes the directory afterwards.
    static func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        try ProcessRunner.withTemporaryDirectory(body)
    }

    /// Writes an OCI layout with `testdata/gen/mkimage.py` at `directory/name` and returns its URL.
    /// `images` are `NAME:TAG[=SPEC]` arguments; `options` are extra flags (`--share-base`, …).
    /// In a temporary directory: the generated image `spec` (`NAME:TAG=layers=…`, see mkimage.py) as an
    /// OCI layout, copied into a store at `directory/seed` and saved to `directory/archive.tar`.
    static func withSavedImage<T>(
        _ spec: String, _ body: (_ directory: URL, _ layout: URL, _ seed: URL, _ archive: URL) throws -> T
    ) throws -> T {
        try withTemporaryDirectory { directory in
            let name = String(spec.prefix { $0 != "=" })
            let layout = try makeLayout(in: directory, images: [spec])
            let seed = directory.appendingPathComponent("seed")
            let copy = try bale(["copy", "oci:\(layout.path):\(name)", name], root: seed)
            guard copy.succeeded else { throw HarnessError("seeding \(name): \(copy)") }
            let archive = directory.appendingPathComponent("archive.tar")
            let save = try bale(["save", "-o", archive.path, name], root: seed)
            guard save.succeeded else { throw HarnessError("saving \(name): \(save)") }
            return try body(directory, layout, seed, archive)
        }
    }

    static func makeLayout(
        in directory: URL, named name: String = "generated", images: [String], options: [String] = []
    ) throws -> URL {
        let layout = directory.appendingPathComponent(name)
        let script = packageRoot.appendingPathComponent("testdata/gen/mkimage.py")
        let arguments = [script.path, layout.path] + images.flatMap { ["--image", $0] } + options
        let result = try peer("python3", arguments)
        guard result.succeeded else { throw HarnessError("mkimage.py failed: \(result)") }
        return layout
    }
}
