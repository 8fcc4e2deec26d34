import Bale
import BaleCore
import Foundation
import TestSupport
import Testing

/// The Docker config file as bale reads and writes logins (FORMATS.md section 9), login and logout.
@Suite struct DockerConfigTests {
    /// A config file in a fresh directory, with `PATH` holding only the test's helpers.
    static func withConfig(_ text: String? = nil, _ body: (DockerConfig, URL) throws -> Void) throws {
        try ProcessRunner.withTemporaryDirectory(prefix: "bale-dockerconfig") { dir in
            let path = dir.path + "/docker/config.json"
            if let text {
                try FileManager.default.createDirectory(atPath: dir.path + "/docker", withIntermediateDirectories: true)
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            }
            try FileManager.default.createDirectory(atPath: dir.path + "/bin", withIntermediateDirectories: true)
            return try body(DockerConfig(path: path, searchPath: dir.path + "/bin:/usr/bin:/bin"), dir)
        }
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    static func auth(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    // MARK: Keys and reading

    @Test(arguments: [
        ("docker.io", DockerConfig.dockerHubKey), ("index.docker.io", DockerConfig.dockerHubKey),
        ("registry-1.docker.io", DockerConfig.dockerHubKey), ("https://index.docker.io/v1/", DockerConfig.dockerHubKey),
        ("reg.local:5000", "reg.local:5000"), ("https://reg.local:5000/v2/", "reg.local:5000"),
        ("http://localhost:5000", "localhost:5000"),
    ])
    func keysAreNormalisedAsDockerDoes(server: String, key: String) {
        #expect(DockerConfig.key(for: server) == key)
    }

    @Test func dockerHubIsFoundUnderItsV1KeyAndOthersUnderAKeyReducedToTheHost() throws {
        let text = """
            {"auths": {"https://index.docker.io/v1/": {"auth": "\(Self.auth("hub:secret"))"},
                       "https://reg.local:5000/v2/": {"auth": "\(Self.auth("me:pa:ss\0\0"))", "identitytoken": "tok"}}}
            """
        try Self.withConfig(text) { config, _ throws in
            #expect(try config.credential(for: "docker.io") == RegistryCredential(username: "hub", password: "secret"))
            // Split at the first colon, NULs trimmed from the password, the identity token kept.
            #expect(try config.credential(for: "reg.local:5000")
                    == RegistryCredential(username: "me", password: "pa:ss", identityToken: "tok"))
            #expect(try config.credential(for: "other.local") == nil)
        }
    }

    @Test func noFileAndAnEmptyEntryAreNoLogin() throws {
        try Self.withConfig { config, _ throws in #expect(try config.credential(for: "docker.io") == nil) }
        try Self.withConfig(#"{"auths": {"reg.local": {}}}"#) { config, _ throws in
            #expect(try config.credential(for: "reg.local") == nil)
        }
    }

    @Test(arguments: [
        ("{\"auths\": ", "invalid JSON"), ("[1]", "not a JSON object"), (#"{"auths": []}"#, "auths is not an object"),
        (#"{"credsStore": 3}"#, "credsStore is not a string"),
        (#"{"auths": {"reg.local": {"auth": "bm9jb2xvbg=="}}}"#, "invalid auth configuration"),  // "nocolon"
        (#"{"auths": {"reg.local": {"auth": "OnB3"}}}"#, "invalid auth configuration"),          // ":pw", no user
    ])
    func malformedFilesAreOneLineErrorsNamingTheFile(text: String, message: String) throws {
        try Self.withConfig(text) { config, _ throws in
            do {
                _ = try config.credential(for: "reg.local")
                Issue.record("\(text) was accepted")
            } catch let error as BaleError {
                #expect(error.message.hasPrefix(config.path), "\(error)")
                #expect(error.message.contains(message), "\(error)")
                #expect(!error.message.contains("\n"))
            }
        }
    }

    // MARK: Writing

    @Test func aLoginKeepsEveryOtherKeyAndIsWrittenAtomicallyWithMode0600() throws {
        let text = """
            {"auths": {"other.local": {"auth": "\(Self.auth("o:p"))", "email": "o@x"}},
             "HttpHeaders": {"User-Agent": "x/1"}, "psFormat": "table {{.ID}}", "plugins": {"p": {"k": [1, 2.5, true, null]}},
             "currentContext": "ctx", "somethingNew": {"deep": {"er": "yes"}}}
            """
        try Self.withConfig(text) { config, dir throws in
            let before = try Self.json(config.path)
            chmod(config.path, 0o644)
            try config.store(RegistryCredential(username: "me", password: "pw"), for: "https://reg.local:5000/")
            let after = try Self.json(config.path)
            for key in before.keys where key != "auths" {
                #expect(NSDictionary(dictionary: after).object(forKey: key) as? NSObject
                        == NSDictionary(dictionary: before).object(forKey: key) as? NSObject, "\(key) changed")
            }
            let auths = after["auths"] as? [String: [String: String]] ?? [:]
            #expect(auths["other.local"] == ["auth": Self.auth("o:p"), "email": "o@x"])
            #expect(auths["reg.local:5000"] == ["auth": Self.auth("me:pw")])
            var st = stat()
            #expect(stat(config.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/docker") == ["config.json"])
            let written = try String(contentsOfFile: config.path, encoding: .utf8)
            #expect(written.contains("\n\t\"HttpHeaders\": {\n\t\t\"User-Agent\": \"x/1\"\n\t},\n"), "\(written)")
            #expect(!written.contains("\n "), "indented with spaces: \(written)")
            #expect(try config.credential(for: "reg.local:5000") == RegistryCredential(username: "me", password: "pw"))
        }
    }

    @Test func aFirstLoginCreatesTheDirectory0700() throws {
        try Self.withConfig { config, dir throws in
            try config.store(RegistryCredential(username: "me", password: "pw"), for: "docker.io")
            var st = stat()
            #expect(stat(dir.path + "/docker", &st) == 0 && st.st_mode & 0o777 == 0o700)
            #expect(try Self.json(config.path)["auths"] as? [String: [String: String]]
                    == [DockerConfig.dockerHubKey: ["auth": Self.auth("me:pw")]])
        }
    }

    /// A config file that is a symlink (dotfiles kept in a repository) stays one: the file it points
    /// at is replaced, as docker does.
    @Test func aSymlinkedConfigIsWrittenWhereItPoints() throws {
        try Self.withConfig { config, dir throws in
            try FileManager.default.createDirectory(atPath: dir.path + "/docker", withIntermediateDirectories: true)
            try Data(#"{"x": 1}"#.utf8).write(to: dir.appendingPathComponent("real.json"))
            try FileManager.default.createSymbolicLink(atPath: config.path, withDestinationPath: "../real.json")
            try config.store(RegistryCredential(username: "me", password: "pw"), for: "reg.local")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: config.path) == "../real.json")
            #expect(try Self.json(dir.path + "/real.json")["x"] as? Int == 1)
            #expect(try config.credential(for: "reg.local") == RegistryCredential(username: "me", password: "pw"))
        }
    }

    @Test func logoutOfAnUnknownServerSaysNotLoggedInAndChangesNothing() throws {
        let text = #"{"auths": {"other.local": {"auth": "bzpw"}}, "x": 1}"#
        try Self.withConfig(text) { config, _ throws in
            #expect(try Login.logout(server: "reg.local:5000", config: config) == "Not logged in to reg.local:5000")
            #expect(try String(contentsOfFile: config.path, encoding: .utf8) == text)
        }
        try Self.withConfig { config, _ throws in
            #expect(try Login.logout(server: nil, config: config) == "Not logged in to https://index.docker.io/v1/")
            #expect(!FileManager.default.fileExists(atPath: config.path))
        }
    }

    @Test func logoutRemovesTheEntryUnderAnyOfDockersSpellings() throws {
        let text = #"{"auths": {"https://reg.local:5000": {"auth": "bzpw"}, "keep.local": {"auth": "bzpw"}}}"#
        try Self.withConfig(text) { config, _ throws in
            #expect(try Login.logout(server: "reg.local:5000", config: config) == "Removing login credentials for reg.local:5000")
            #expect(Set((try Self.json(config.path)["auths"] as? [String: Any] ?? [:]).keys) == ["keep.local"])
        }
    }

    // MARK: Login through a checker

    @Test func loginSavesOnlyWhatTheRegistryAccepted() throws {
        try Self.withConfig(#"{"keep": true}"#) { config, _ in
            let refused: Login.Checker = { _, _, _ in throw BaleError(.invalidInput, "401 Unauthorized") }
            #expect(throws: BaleError.self) {
                try Login.login(server: "reg.local:5000", credential: RegistryCredential(username: "me", password: "bad"),
                                config: config, options: RegistryOptions(), check: refused)
            }
            #expect(try String(contentsOfFile: config.path, encoding: .utf8) == #"{"keep": true}"#)

            var asked: [String] = []
            let accepted: Login.Checker = { host, credential, _ in asked.append("\(host) \(credential.username):\(credential.password)") }
            let outcome = try Login.login(server: nil, credential: RegistryCredential(username: "me", password: "pw"),
                                          config: config, options: RegistryOptions(), check: accepted)
            #expect(asked == ["docker.io me:pw"])
            #expect(outcome.lines == ["Login Succeeded"])
            #expect(outcome.warnings.first?.contains(config.path) == true)
            #expect(try config.credential(for: "docker.io") == RegistryCredential(username: "me", password: "pw"))
            #expect(try Self.json(config.path)["keep"] as? Bool == true)
        }
    }

    @Test func loginRefusesAnEmptyUserOrPasswordBeforeAskingTheRegistry() throws {
        try Self.withConfig { config, _ throws in
            for credential in [RegistryCredential(username: "", password: "pw"), RegistryCredential(username: "me", password: "")] {
                #expect(throws: BaleError.self) {
                    try Login.login(server: "reg.local", credential: credential, config: config, options: RegistryOptions()) { _, _, _ in
                        Issue.record("the registry was asked")
                    }
                }
            }
            #expect(!FileManager.default.fileExists(atPath: config.path))
        }
    }

    // MARK: Credential helpers

    /// The test helpers in `dir/bin` (on the config's search path), keeping credentials in
    /// `dir/helper-store`.
    static func installHelpers(in dir: URL) throws {
        try CredentialHelper.install(bin: dir.path + "/bin", store: dir.path + "/helper-store")
    }

    @Test func credentialsComeFromTheHelperTheFileNames() throws {
        let text = #"{"credsStore": "test", "credHelpers": {"locked.local": "broken"}, "auths": {"reg.local": {}}}"#
        try Self.withConfig(text) { config, dir throws in
            try Self.installHelpers(in: dir)
            let store = dir.path + "/helper-store/"
            try Data(#"{"ServerURL":"reg.local","Username":"me","Secret":"pw"}"#.utf8).write(to: URL(fileURLWithPath: store + "reg.local"))
            try Data(#"{"ServerURL":"tok.local","Username":"<token>","Secret":"refresh"}"#.utf8).write(to: URL(fileURLWithPath: store + "tok.local"))
            #expect(try config.credential(for: "reg.local") == RegistryCredential(username: "me", password: "pw"))
            #expect(try config.credential(for: "tok.local") == RegistryCredential(username: "", password: "", identityToken: "refresh"))
            // "credentials not found" is no login; any other failure is an error with the helper's words.
            #expect(try config.credential(for: "nobody.local") == nil)
            do {
                _ = try config.credential(for: "locked.local")
                Issue.record("a failing helper gave no error")
            } catch let error as BaleError {
                #expect(error.message == "docker-credential-broken get failed: the keyring is locked", "\(error)")
            }
        }
    }

    @Test func loginAndLogoutGoThroughTheHelper() throws {
        try Self.withConfig(#"{"credHelpers": {"reg.local:5000": "test"}, "auths": {}}"#) { config, dir in
            try Self.installHelpers(in: dir)
            let outcome = try Login.login(server: "reg.local:5000", credential: RegistryCredential(username: "me", password: "pw"),
                                          config: config, options: RegistryOptions()) { _, _, _ in }
            #expect(outcome.warnings.isEmpty)
            // The secret is the helper's; the file only records the login.
            #expect(try Self.json(config.path)["auths"] as? [String: [String: String]] == ["reg.local:5000": [:]])
            #expect(try config.credential(for: "reg.local:5000") == RegistryCredential(username: "me", password: "pw"))
            #expect(try Login.logout(server: "reg.local:5000", config: config) == "Removing login credentials for reg.local:5000")
            #expect(try config.credential(for: "reg.local:5000") == nil)
            #expect(try Self.json(config.path)["auths"] as? [String: [String: String]] == [:])
            let calls = try String(contentsOfFile: dir.path + "/helper-store/calls", encoding: .utf8)
            #expect(calls == "store\nget\nerase\nget\n", "\(calls)")
        }
    }

    @Test func aHelperMissingFromPathIsAClearError() throws {
        try Self.withConfig(#"{"credsStore": "nowhere"}"#) { config, _ in
            do {
                _ = try config.credential(for: "reg.local")
                Issue.record("no error")
            } catch let error as BaleError {
                #expect(error.message.contains("docker-credential-nowhere not found on PATH"), "\(error)")
            }
        }
    }

    // MARK: bale's config file

    @Test func mirrorsAreReadFromBalesConfigFile() throws {
        try ProcessRunner.withTemporaryDirectory { dir throws in
            let path = dir.path + "/config.json"
            #expect(try BaleConfig(path: path).registryMirrors == [])
            try Data(#"{"registry-mirrors": ["https://m1.local:5000/", "http://10.0.0.5"], "debug": true}"#.utf8)
                .write(to: URL(fileURLWithPath: path))
            #expect(try BaleConfig(path: path).registryMirrors == ["https://m1.local:5000", "http://10.0.0.5"])
            for bad in [#"{"registry-mirrors": "https://m"}"#, #"{"registry-mirrors": ["ftp://m"]}"#, "{"] {
                try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
                do {
                    _ = try BaleConfig(path: path)
                    Issue.record("\(bad) was accepted")
                } catch let error as BaleError {
                    #expect(error.message.hasPrefix(path), "\(error)")
                    #expect(!error.message.contains("\n"))
                }
            }
        }
    }
}
