import Foundation
import Testing

// Runs the built `bale` executable and its peers (skopeo, umoci, oci-image-tool, python3) for the
// interop tests. Everything here is plain Foundation so the expectations do not lean on the code
// under test.

/// What a finished program left behind.
struct RunResult: Sendable, CustomStringConvertible {
    /// The command line, for failure messages.
    var command: [String]
    /// Exit status, or the signal number when `signalled`.
    var status: Int32
    /// True when the program was killed by a signal (a crash, or the harness's timeout).
    var signalled: Bool
    var stdout: Data
    var stderr: Data

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
    /// Non-empty lines of stdout.
    var lines: [String] { out.split(separator: "\n").map(String.init) }
    /// Non-empty lines of stderr.
    var errLines: [String] { err.split(separator: "\n").map(String.init) }
    var succeeded: Bool { !signalled && status == 0 }

    var description: String {
        "`\(command.joined(separator: " "))` \(signalled ? "killed by signal" : "exited") \(status)\n"
            + "stdout:\n\(out)\nstderr:\n\(err)"
    }
}

/// A harness failure: a missing program, a timeout, an unreadable fixture.
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum Harness {
    /// The package root, found from this file's place in the tree (Tests/InteropTests/Support/).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// In CI (`CI=true`, as `.ci/run` sets) a missing peer fails the test instead of skipping it.
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The bale executable: `$BALE_BIN`, else `bale` beside the running test bundle, else
    /// `<package root>/.build/debug/bale`.
    static func baleBinary() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["BALE_BIN"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw HarnessError("BALE_BIN=\(path) is not an executable file")
            }
            return URL(fileURLWithPath: path)
        }
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent("bale"))
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/bale"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        throw HarnessError("no bale executable: set BALE_BIN or run `swift build` first (looked at "
            + candidates.map(\.path).joined(separator: ", ") + ")")
    }

    /// The first executable called `name` on `$PATH`, or nil.
    static func which(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// For `.enabled(if:)`: true when every peer is installed, and always true in CI so that the
    /// test runs and `requirePeer` fails it there (in CI a missing peer is a failure, not a skip).
    static func peersAvailable(_ names: String...) -> Bool {
        isCI || names.allSatisfy { which($0) != nil }
    }

    /// The peer's path; throws (failing the test) when it is not installed.
    static func requirePeer(_ name: String) throws -> URL {
        guard let url = which(name) else {
            throw HarnessError("\(name) is not installed (run `make deps`)"
                + (isCI ? "; in CI a missing peer is a failure" : ""))
        }
        return url
    }

    /// Runs `executable` and waits for it. stdout and stderr go to temporary files rather than
    /// pipes, so a chatty program can never block on a full pipe, whatever it writes and in which
    /// order; stdin, when given, is a file too. A program still running after `timeout` seconds
    /// is terminated and the call throws.
    ///
    /// `environment` adds to the inherited environment; a nil value removes the variable.
    static func run(
        _ executable: URL, _ arguments: [String], stdin: Data? = nil,
        environment: [String: String?] = [:], currentDirectory: URL? = nil,
        timeout: TimeInterval = 300
    ) throws -> RunResult {
        let files = FileManager.default
        let scratch = files.temporaryDirectory.appendingPathComponent("bale-run-\(UUID().uuidString)")
        try files.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? files.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        let inURL = scratch.appendingPathComponent("stdin")
        guard files.createFile(atPath: outURL.path, contents: nil),
              files.createFile(atPath: errURL.path, contents: nil),
              files.createFile(atPath: inURL.path, contents: stdin ?? Data())
        else { throw HarnessError("cannot create capture files in \(scratch.path)") }

        let outHandle = try FileHandle(forWritingTo: outURL)
        defer { try? outHandle.close() }
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer { try? errHandle.close() }
        let inHandle = try FileHandle(forReadingFrom: inURL)
        defer { try? inHandle.close() }

        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = inHandle
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let command = [executable.lastPathComponent] + arguments
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if finished.wait(timeout: .now() + 10) == .timedOut { kill(process.processIdentifier, SIGKILL) }
            throw HarnessError("`\(command.joined(separator: " "))` still running after \(Int(timeout)) s; killed")
        }
        return RunResult(
            command: command, status: process.terminationStatus,
            signalled: process.terminationReason == .uncaughtSignal,
            stdout: try Data(contentsOf: outURL), stderr: try Data(contentsOf: errURL))
    }

    /// Runs bale with `--root root` in front of `arguments` (when a root is given).
    static func bale(
        _ arguments: [String], root: URL? = nil, stdin: Data? = nil,
        environment: [String: String?] = [:]
    ) throws -> RunResult {
        let prefix = root.map { ["--root", $0.path] } ?? []
        return try run(try baleBinary(), prefix + arguments, stdin: stdin, environment: environment)
    }

    /// Runs an installed peer (skopeo, umoci, oci-image-tool, …); throws when it is missing.
    static func peer(_ name: String, _ arguments: [String], stdin: Data? = nil) throws -> RunResult {
        try run(try requirePeer(name), arguments, stdin: stdin)
    }

    /// Calls `body` with a fresh empty directory and removes the directory afterwards.
    static func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bale-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    /// Writes an OCI layout with `testdata/gen/mkimage.py` at `directory/name` and returns its URL.
    /// `images` are `NAME:TAG[=SPEC]` arguments; `options` are extra flags (`--share-base`, …).
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
