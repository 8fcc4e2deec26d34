import Foundation
import TestSupport

/// `testdata/registry/faultproxy.py` between bale and a registry, on 127.0.0.1 and a free port: cuts a
/// blob in the middle of its body (`cut`), flips a byte of it (`corrupt`), changes a manifest
/// (`manifest`) or never ends a blob (`endless`); logs each request with its Range header.
struct FaultProxy {
    /// `127.0.0.1:PORT`.
    let host: String
    let logPath: String

    static func with<T>(upstream: String, mode: String, _ body: (FaultProxy) throws -> T) throws -> T {
        let python = try Harness.requirePeer("python3")
        let script = Harness.packageRoot.appendingPathComponent("testdata/registry/faultproxy.py").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bale-proxy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let portFile = dir + "/port"
        let logPath = dir + "/requests.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = try BackgroundProcess(python, [script, "http://" + upstream, portFile, logPath, mode])
        defer { process.stop(grace: 2) }
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: portFile) {
            guard process.isRunning, Date() < deadline else { throw HarnessError("faultproxy.py did not start") }
            usleep(50_000)
        }
        let port = try String(contentsOfFile: portFile, encoding: .utf8)
        return try body(FaultProxy(host: "127.0.0.1:\(port)", logPath: logPath))
    }

    /// The logged requests: `METHOD PATH RANGE` (`-` without one).
    var requests: [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
