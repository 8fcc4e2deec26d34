@testable import BaleCLI
import Bale
import BaleCore
import Foundation
import TestSupport
import Testing

/// The shared registry flags: mirrors from bale's config file and the command line, logins from the
/// Docker config file; login and logout run as the built binary.
@Suite struct RegistryFlagsTests {
    @Test func mirrorsComeFromTheConfigFileFirstThenTheFlagsInOrder() throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            try FileManager.default.createDirectory(atPath: dir.path + "/bale", withIntermediateDirectories: true)
            try Data(#"{"registry-mirrors": ["https://a.local", "https://b.local:5000/"]}"#.utf8)
                .write(to: dir.appendingPathComponent("bale/config.json"))
            let flags = try RegistryFlags.parse(["--registry-mirror", "http://c.local", "--registry-mirror", "https://a.local", "--insecure"])
            let options = try flags.registryOptions(environment: ["XDG_CONFIG_HOME": dir.path, "DOCKER_CONFIG": dir.path + "/docker"])
            #expect(options.mirrors == ["https://a.local", "https://b.local:5000", "http://c.local", "https://a.local"])
            #expect(options.insecure)
            #expect((options.credentials as? DockerConfig)?.path == dir.path + "/docker/config.json")
            let bad = try RegistryFlags.parse(["--registry-mirror", "mirror.local"])
            #expect(throws: BaleError.self) { try bad.registryOptions(environment: ["XDG_CONFIG_HOME": dir.path]) }
        }
    }

    @Test func aMalformedConfigFileStopsTheCommandWithItsName() throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            try FileManager.default.createDirectory(atPath: dir.path + "/bale", withIntermediateDirectories: true)
            try Data(#"{"registry-mirrors": ["#.utf8).write(to: dir.appendingPathComponent("bale/config.json"))
            let run = try CLIRunner.bale(["copy", "a:1", "oci:\(dir.path)/out"],
                                         environment: ["XDG_CONFIG_HOME": dir.path, "BALE_ROOT": dir.path + "/store"])
            #expect(run.status == 1, "\(run)")
            #expect(run.errLines.count == 1 && run.err.contains(dir.path + "/bale/config.json"), "\(run)")
        }
    }

    @Test func logoutOfAServerWithNoLoginSaysSo() throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let run = try CLIRunner.bale(["logout", "reg.local:5000"], environment: ["DOCKER_CONFIG": dir.path])
            #expect(run.status == 0, "\(run)")
            #expect(run.out == "Not logged in to reg.local:5000\n", "\(run)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/config.json"))
        }
    }

    @Test func loginRefusesBadFlagCombinationsAndANonTerminal() throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let env: [String: String?] = ["DOCKER_CONFIG": dir.path]
            let both = try CLIRunner.bale(["login", "-u", "me", "-p", "x", "--password-stdin", "reg.local"], environment: env)
            #expect(both.status == 2 && both.err.contains("mutually exclusive"), "\(both)")
            let noUser = try CLIRunner.bale(["login", "--password-stdin", "reg.local"], stdin: Data("pw\n".utf8), environment: env)
            #expect(noUser.status == 2 && noUser.err.contains("Must provide --username with --password-stdin"), "\(noUser)")
            let noTTY = try CLIRunner.bale(["login", "reg.local"], stdin: Data(), environment: env)
            #expect(noTTY.status == 2 && noTTY.err.contains("Cannot perform an interactive login from a non TTY device"), "\(noTTY)")
            // Loopback, a port nobody listens on: the registry check fails, and nothing is saved.
            let warned = try CLIRunner.bale(["login", "-u", "me", "-p", "pw", "127.0.0.1:1"], environment: env)
            #expect(warned.status == 1, "\(warned)")
            #expect(warned.err.contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."), "\(warned)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/config.json"))
        }
    }

    /// On a terminal (a pty from script(1)) login asks for the user, offering the stored one, which an
    /// empty answer takes, and for the password. The registry check then fails (a loopback port nobody
    /// listens on), which it reports only once the user is known: an empty user stops earlier.
    @Test func loginOnATerminalPromptsWithTheStoredUserAsDefault() throws {
        let script = try ProcessRunner.requirePeer("script")
        try CLIRunner.withTemporaryDirectory { dir throws in
            let auth = Data("olduser:x".utf8).base64EncodedString()
            try Data(#"{"auths": {"127.0.0.1:1": {"auth": "\#(auth)"}}}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
            let before = try Data(contentsOf: dir.appendingPathComponent("config.json"))
            let bale = try CLIRunner.executable().path
            let run = try CLIRunner.run(script, ["-qec", "'\(bale)' login 127.0.0.1:1", "/dev/null"],
                                        stdin: Data("\ns3cret\n".utf8), environment: ["DOCKER_CONFIG": dir.path], timeout: 60)
            #expect(run.out.contains("Username (olduser): Password: "), "\(run)")
            #expect(run.out.contains("Error: login to 127.0.0.1:1 failed"), "\(run)")
            #expect(try Data(contentsOf: dir.appendingPathComponent("config.json")) == before)
        }
    }
}
