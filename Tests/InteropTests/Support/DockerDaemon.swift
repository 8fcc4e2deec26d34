import Foundation
import Testing
import TestSupport

/// A private Docker engine for one test: Debian's `dockerd` (20.10) as root with vfs storage, no
/// networking, its own data root, exec root, pid file and unix socket under a temporary directory.
/// Never touches a system daemon; stopped and removed when the test's body returns.
struct DockerDaemon {
    let socket: String
    private let docker: URL

    /// Starts a daemon, runs `body`, stops the daemon. Throws (so the test fails) when dockerd or the
    /// docker client is missing, when not root, or when the daemon does not come up.
    static func with<T>(_ body: (DockerDaemon) throws -> T) throws -> T {
        try with(dataRoot: nil, body)
    }

    /// As `with(_:)`, but the engine keeps its data root in `dataRoot`, which is left in place after the
    /// daemon stops (for reading it offline: `docker-root:`); nil: a data root removed with the rest.
    /// `storageDriver`: vfs, or overlay2 where the kernel lets this process mount overlays.
    static func with<T>(dataRoot: String?, storageDriver: String = "vfs", _ body: (DockerDaemon) throws -> T) throws -> T {
        let dockerd = try Harness.requirePeer("dockerd")
        let client = try Harness.requirePeer("docker")
        guard geteuid() == 0 else { throw HarnessError("dockerd needs root for the interop tests") }
        // Short paths: a unix socket path must fit in 108 bytes.
        let dir = "/tmp/bale-dockerd-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = dir + "/docker.sock"
        let log = dir + "/dockerd.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)   // the next line reports a failure
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? logHandle.close() }
        let process = try BackgroundProcess(dockerd, [
            "--storage-driver=\(storageDriver)", "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--data-root", dataRoot ?? dir + "/data", "--exec-root", dir + "/exec", "--pidfile", dir + "/pid",
            "--host", "unix://" + socket,
        ], output: logHandle)
        defer { process.stop(grace: 15) }
        let daemon = DockerDaemon(socket: socket, docker: client)
        let deadline = Date().addingTimeInterval(60)
        while true {
            if let r = try? daemon.run(["version", "--format", "{{.Server.Version}}"]), r.succeeded { break }
            guard process.isRunning, Date() < deadline else {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw HarnessError("dockerd did not start:\n\(text.suffix(2000))")
            }
            usleep(200_000)
        }
        return try body(daemon)
    }

    /// Runs the docker client against this daemon.
    func run(_ arguments: [String], stdin: Data? = nil) throws -> RunResult {
        try Harness.run(docker, arguments, stdin: stdin, environment: ["DOCKER_HOST": "unix://" + socket])
    }

    /// Runs docker and fails the test (throws) unless it succeeds.
    @discardableResult
    func must(_ arguments: [String], stdin: Data? = nil) throws -> RunResult {
        let r = try run(arguments, stdin: stdin)
        guard r.succeeded else { throw HarnessError("docker failed: \(r)") }
        return r
    }
}
