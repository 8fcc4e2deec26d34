import Foundation
import Testing

/// `docker-daemon:` without an engine: where bale looks, and what it refuses, each in one line (the
/// engine itself is in InteropTests/DockerDaemonInteropTests).
@Suite struct DockerDaemonCLITests {
    @Test func anEngineThatIsNotThereOrNotAUnixSocketIsOneLine() throws {
        try CLIRunner.withTemporaryDirectory { d in
            let root = ["--root", d.path]
            let missing = d.appendingPathComponent("no.sock").path
            let cases: [([String], [String: String?], String)] = [
                (["copy", "--docker-host", "unix://" + missing, "docker-daemon:app:1", "store:"], [:], missing),
                (["images", "--source", "docker-daemon:"], ["DOCKER_HOST": "unix://" + missing], missing),
                (["copy", "docker-daemon:app:1", "store:"], ["DOCKER_HOST": "tcp://127.0.0.1:2375"], "not a Unix socket"),
                (["save", "-o", d.appendingPathComponent("o.tar").path, "--docker-host", "tcp://127.0.0.1:1", "docker-daemon:app:1"], [:], "not a Unix socket"),
                (["copy", "--docker-host", "unix://" + missing, "docker-daemon:", "docker-daemon:0123456789abcdef"], [:], "an image ID selects an image to read"),
            ]
            for (arguments, environment, expected) in cases {
                let r = try CLIRunner.bale(root + arguments, environment: environment)
                #expect(r.status != 0, "\(arguments)")
                let lines = r.err.split(separator: "\n")
                #expect(lines.count == 1 && r.err.contains(expected), "\(arguments): \(r.err)")
            }
            #expect(!FileManager.default.fileExists(atPath: d.appendingPathComponent("o.tar").path))
        }
    }

    @Test func theFlagAndTheLocationAreDocumented() throws {
        for command in ["copy", "save", "images"] {
            let help = try CLIRunner.bale([command, "--help"]).out
            #expect(help.contains("--docker-host"), "\(command)")
            #expect(help.contains("docker-daemon:"), "\(command)")
        }
    }
}
