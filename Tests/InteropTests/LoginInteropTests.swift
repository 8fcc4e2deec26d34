import Bale
import Foundation
import Testing
import TestSupport

/// Logins bale and docker write are the same file: docker's `login` against the real registry (with
/// htpasswd) is read by bale, and a login bale writes is what the docker client sends to that registry
/// and what `docker logout` finds, every other key of the file kept.
@Suite struct LoginInteropTests {
    @Test func dockerAndBaleReadEachOthersLogins() throws {
        let htpasswd = try Harness.requirePeer("htpasswd")
        let docker = try Harness.requirePeer("docker")
        try Harness.withTemporaryDirectory { dir in
            // A password with a colon: the auth value is split at the first one.
            let user = "tester", password = "s3cret:x"
            let file = dir.path + "/htpasswd"
            let made = try Harness.run(htpasswd, ["-Bbc", file, user, password])
            #expect(made.succeeded, "\(made)")
            var options = Registry.Options()
            options.htpasswd = file
            try Registry.with(options) { registry in
                try DockerDaemon.with { daemon in
                    func run(_ arguments: [String], config: String, stdin: Data? = nil) throws -> RunResult {
                        try Harness.run(docker, arguments, stdin: stdin,
                                        environment: ["DOCKER_HOST": "unix://" + daemon.socket, "DOCKER_CONFIG": config])
                    }
                    let credential = RegistryCredential(username: user, password: password)

                    // docker → bale.
                    let dockerWrote = dir.path + "/docker-wrote"
                    let login = try run(["login", "-u", user, "--password-stdin", registry.host], config: dockerWrote,
                                        stdin: Data((password + "\n").utf8))
                    #expect(login.succeeded, "\(login)")
                    #expect(try DockerConfig(path: dockerWrote + "/config.json").credential(for: registry.host) == credential)

                    // bale → docker: without a login the registry refuses the pull for auth; with bale's,
                    // it gets as far as the missing manifest.
                    let image = registry.host + "/nothing:1"
                    let anonymous = try run(["pull", image], config: dir.path + "/empty")
                    #expect(!anonymous.succeeded && anonymous.err.contains("no basic auth credentials"), "\(anonymous)")
                    let baleWrote = dir.path + "/bale-wrote"
                    try FileManager.default.createDirectory(atPath: baleWrote, withIntermediateDirectories: true)
                    try Data(#"{"psFormat": "table {{.ID}}", "auths": {"other.local": {"auth": "bzpw"}}}"#.utf8)
                        .write(to: URL(fileURLWithPath: baleWrote + "/config.json"))
                    try DockerConfig(path: baleWrote + "/config.json").store(credential, for: registry.host)
                    let pulled = try run(["pull", image], config: baleWrote)
                    #expect(!pulled.succeeded, "\(pulled)")
                    #expect(!pulled.err.contains("no basic auth credentials") && !pulled.err.contains("unauthorized"), "\(pulled)")
                    #expect(pulled.err.contains("manifest unknown") || pulled.err.contains("not found"), "\(pulled)")

                    // docker logout finds bale's key, and keeps what else the file holds.
                    let logout = try run(["logout", registry.host], config: baleWrote)
                    #expect(logout.out.contains("Removing login credentials for \(registry.host)"), "\(logout)")
                    let after = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: baleWrote + "/config.json")))
                        as? [String: Any] ?? [:]
                    #expect(after["psFormat"] as? String == "table {{.ID}}", "\(after)")
                    #expect((after["auths"] as? [String: Any])?.keys.sorted() == ["other.local"], "\(after)")
                }
            }
        }
    }

    /// Through a credential helper (`credsStore`): what docker login stores with the helper, bale reads
    /// back from it; what bale stores with it, docker's pull sends; the file holds only the entry.
    @Test func dockerAndBaleShareACredentialHelper() throws {
        let htpasswd = try Harness.requirePeer("htpasswd")
        let docker = try Harness.requirePeer("docker")
        try Harness.withTemporaryDirectory { dir in
            let user = "tester", password = "helped"
            let file = dir.path + "/htpasswd"
            #expect(try Harness.run(htpasswd, ["-Bbc", file, user, password]).succeeded)
            let bin = dir.path + "/bin", store = dir.path + "/helper-store"
            try CredentialHelper.install(bin: bin, store: store)
            let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            var options = Registry.Options()
            options.htpasswd = file
            try Registry.with(options) { registry in
                try DockerDaemon.with { daemon in
                    func run(_ arguments: [String], config: String, stdin: Data? = nil) throws -> RunResult {
                        try Harness.run(docker, arguments, stdin: stdin, environment: [
                            "DOCKER_HOST": "unix://" + daemon.socket, "DOCKER_CONFIG": config, "PATH": path,
                        ])
                    }
                    func config(_ name: String) throws -> DockerConfig {
                        try FileManager.default.createDirectory(atPath: dir.path + "/" + name, withIntermediateDirectories: true)
                        try Data(#"{"credsStore": "test"}"#.utf8).write(to: URL(fileURLWithPath: dir.path + "/\(name)/config.json"))
                        return DockerConfig(path: dir.path + "/\(name)/config.json", searchPath: path)
                    }
                    let credential = RegistryCredential(username: user, password: password)

                    let dockerWrote = try config("docker-wrote")
                    let login = try run(["login", "-u", user, "--password-stdin", registry.host], config: dir.path + "/docker-wrote",
                                        stdin: Data((password + "\n").utf8))
                    #expect(login.succeeded, "\(login)")
                    #expect(try dockerWrote.credential(for: registry.host) == credential)

                    try FileManager.default.removeItem(atPath: CredentialHelper.file(for: registry.host, store: store))
                    let baleWrote = try config("bale-wrote")
                    #expect(try baleWrote.store(credential, for: registry.host) == "docker-credential-test")
                    let pulled = try run(["pull", registry.host + "/nothing:1"], config: dir.path + "/bale-wrote")
                    #expect(!pulled.succeeded && !pulled.err.contains("no basic auth credentials"), "\(pulled)")
                    #expect(pulled.err.contains("manifest unknown") || pulled.err.contains("not found"), "\(pulled)")
                    let saved = try String(contentsOfFile: baleWrote.path, encoding: .utf8)
                    #expect(!saved.contains("auth\":"), "a secret in the file: \(saved)")
                }
            }
        }
    }
}
