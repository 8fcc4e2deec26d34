import Foundation

// The one process runner every test target uses: run a program (bale, a peer, a system tool) with
// arguments, stdin and environment, and get back its exit status or signal, stdout and stderr.
// A plain target rather than a test target so that test targets can depend on it; plain Foundation
// only, so the expectations do not lean on the code under test.

/// What a finished program left behind.
public struct RunResult: Sendable, CustomStringConvertible {
    /// The command line (the program's file name, then the arguments), for failure messages.
    public var command: [String]
    /// Exit status, or the signal number when `signalled`.
    public var status: Int32
    /// True when the program was killed by a signal (a crash, or the runner's timeout).
    public var signalled: Bool
    public var stdout: Data
    public var stderr: Data

    public init(command: [String], status: Int32, signalled: Bool, stdout: Data, stderr: Data) {
        self.command = command
        self.status = status
        self.signalled = signalled
        self.stdout = stdout
        self.stderr = stderr
    }

    /// The arguments without the program name.
    public var arguments: [String] { Array(command.dropFirst()) }
    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }
    /// Non-empty lines of stdout.
    public var lines: [String] { out.split(separator: "\n").map(String.init) }
    /// Non-empty lines of stderr.
    public var errLines: [String] { err.split(separator: "\n").map(String.init) }
    /// Exited with status 0.
    public var succeeded: Bool { !signalled && status == 0 }

    public var description: String {
        "`\(command.joined(separator: " "))` \(signalled ? "killed by signal" : "exited") \(status)\n"
            + "stdout:\n\(out)\nstderr:\n\(err)"
    }
}

/// A runner failure: a missing program, a timeout, an unreadable fixture.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Locates and runs programs for the tests.
public enum ProcessRunner {
    /// The package root, found from this file's place in the tree (Tests/TestSupport/).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// In CI (`CI=true`, as `.ci/run` sets) a missing peer fails the test instead of skipping it.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The bale executable: `$BALE_BIN`, else `bale` beside the running test bundle, else
    /// `<package root>/.build/debug/bale`.
    public static func baleBinary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["BALE_BIN"], !path.isEmpty {
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
    public static func which(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// For `.enabled(if:)`: true when every peer is installed, and always true in CI so that the
    /// test runs and `requirePeer` fails it there (in CI a missing peer is a failure, not a skip).
    public static func peersAvailable(_ names: [String]) -> Bool {
        isCI || names.allSatisfy { which($0) != nil }
    }

    /// The peer's path; throws (failing the test) when it is not installed.
    public static func requirePeer(_ name: String) throws -> URL {
        guard let url = which(name) else {
            throw HarnessError("\(name) is not installed (run `make deps`)"
                + (isCI ? "; in CI a missing peer is a failure" : ""))
        }
        return url
    }

    /// `program` as a URL: a path when it contains a slash, else looked up on `$PATH` (throwing
    /// when it is not installed).
    public static func locate(_ program: String) throws -> URL {
        program.contains("/") ? URL(fileURLWithPath: program) : try requirePeer(program)
    }

    /// Runs `executable` and waits for it. stdout and stderr go to temporary files rather than
    /// pipes, so a chatty program can never block on a full pipe, whatever it writes and in which
    /// order; stdin, when given, is a file too (otherwise empty). A program still running after
    /// `timeout` seconds is terminated (then killed) and the call throws.
    ///
    /// `environment` adds to the inherited environment; a nil value removes the variable.
    public static func run(
        _ executable: URL, _ arguments: [String], stdin: Data? = nil,
        environment: [String: String?] = [:], currentDirectory: URL? = nil,
        timeout: TimeInterval = 300
    ) throws -> RunResult {
        try withTemporaryDirectory(prefix: "bale-run") { scratch in
            let files = FileManager.default
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
    }

    /// Runs `command[0]` (a path, or a name looked up on `$PATH`) with the rest as arguments.
    public static func run(
        _ command: [String], stdin: Data? = nil, environment: [String: String?] = [:],
        currentDirectory: URL? = nil, timeout: TimeInterval = 300
    ) throws -> RunResult {
        guard let program = command.first else { throw HarnessError("run: empty command line") }
        return try run(try locate(program), Array(command.dropFirst()), stdin: stdin, environment: environment,
                       currentDirectory: currentDirectory, timeout: timeout)
    }

    /// Runs the bale executable (`baleBinary()`) with `arguments`.
    public static func bale(
        _ arguments: [String], stdin: Data? = nil, environment: [String: String?] = [:],
        timeout: TimeInterval = 300
    ) throws -> RunResult {
        try run(try baleBinary(), arguments, stdin: stdin, environment: environment, timeout: timeout)
    }

    /// Calls `body` with a fresh empty directory and removes the directory afterwards.
    public static func withTemporaryDirectory<T>(prefix: String = "bale-test", _ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }
}

/// A program left running while the test goes on (a daemon, a load to be killed midway); its
/// stdout and stderr go to `output`, or nowhere.
public final class BackgroundProcess {
    private let process = Process()

    /// Starts `executable` with `arguments`; stdin is empty.
    public init(_ executable: URL, _ arguments: [String], output: FileHandle? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = output ?? FileHandle.nullDevice
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }

    /// The exit status, once the program has ended.
    public var terminationStatus: Int32 { process.terminationStatus }

    /// Sends `signal` without waiting.
    public func signal(_ signal: Int32) {
        send(signal, to: process.processIdentifier)
    }

    /// Waits up to `timeout` seconds for the program to end; whether it did.
    public func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        return !process.isRunning
    }

    /// Sends `signal` and waits for the program to end.
    public func kill(_ signal: Int32) {
        send(signal, to: process.processIdentifier)
        process.waitUntilExit()
    }

    /// Asks the program to end (SIGTERM), gives it `grace` seconds, then kills it; waits for it.
    public func stop(grace: TimeInterval = 15) {
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning { send(SIGKILL, to: process.processIdentifier) }
        process.waitUntilExit()
    }
}

/// The C `kill`, out of reach of `BackgroundProcess.kill`'s name.
private func send(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}
