import Foundation

// Runs the built `bale` executable for end-to-end CLI tests: exit status, stdout and stderr.
// A trimmed copy of Tests/InteropTests/Support/Harness.swift (test targets cannot share files).

/// What a finished bale run left behind.
struct BaleRun: Sendable, CustomStringConvertible {
    var arguments: [String]
    /// Exit status, or the signal number when `signalled`.
    var status: Int32
    var signalled: Bool
    var stdout: Data
    var stderr: Data

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
    /// Non-empty lines of stdout.
    var lines: [String] { out.split(separator: "\n").map(String.init) }

    var description: String {
        "`bale \(arguments.joined(separator: " "))` \(signalled ? "killed by signal" : "exited") \(status)\n"
            + "stdout:\n\(out)\nstderr:\n\(err)"
    }
}

struct RunError: Error, CustomStringConvertible {
    var description: String
}

/// Locates and runs bale; namespaced so test files stay free to name their own helpers.
enum CLIRunner {
    /// The bale executable: `$BALE_BIN`, else `bale` beside the test bundle, else `.build/debug/bale`
    /// under the package root (found from this file's place: Tests/BaleCLITests/Support/).
    static func executable() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["BALE_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("bale"),
                          root.appendingPathComponent(".build/debug/bale")].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw RunError(description: "no bale executable: set BALE_BIN or run `swift build` first")
        }
        return found
    }

    /// Runs bale with `arguments` and optional stdin, with `environment` added to the inherited one
    /// (a nil value removes a variable). Output goes to temporary files, not pipes, so the child can
    /// never block on a full pipe. Throws when bale is still running after `timeout` seconds.
    static func bale(
        _ arguments: [String], stdin: Data? = nil, environment: [String: String?] = [:], timeout: TimeInterval = 120
    ) throws -> BaleRun {
        try run(try executable(), arguments, stdin: stdin, environment: environment, timeout: timeout)
    }

    /// Runs `program` as `bale` runs above (the result names the arguments only).
    static func run(
        _ program: URL, _ arguments: [String], stdin: Data? = nil, environment: [String: String?] = [:],
        timeout: TimeInterval = 120
    ) throws -> BaleRun {
        let files = FileManager.default
        let scratch = files.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)")
        try files.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? files.removeItem(at: scratch) }
        let paths = ["stdout", "stderr", "stdin"].map { scratch.appendingPathComponent($0) }
        for (index, url) in paths.enumerated() {
            guard files.createFile(atPath: url.path, contents: index == 2 ? stdin ?? Data() : nil) else {
                throw RunError(description: "cannot create \(url.path)")
            }
        }
        let out = try FileHandle(forWritingTo: paths[0])
        defer { try? out.close() }
        let err = try FileHandle(forWritingTo: paths[1])
        defer { try? err.close() }
        let input = try FileHandle(forReadingFrom: paths[2])
        defer { try? input.close() }

        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        process.environment = env
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = finished.wait(timeout: .now() + 10)
            throw RunError(description: "`\(program.lastPathComponent) \(arguments.joined(separator: " "))` still running after \(Int(timeout)) s")
        }
        return BaleRun(arguments: arguments, status: process.terminationStatus,
                       signalled: process.terminationReason == .uncaughtSignal,
                       stdout: try Data(contentsOf: paths[0]), stderr: try Data(contentsOf: paths[1]))
    }

    /// Calls `body` with a fresh empty directory (e.g. a `--root`) and removes it afterwards.
    static func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }
}
