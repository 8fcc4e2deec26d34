import Foundation
import Testing
import TestSupport

// bale against registries that guard their doors (issue #11, "Done when": auth, TLS, mirrors): the
// real `docker-registry` with htpasswd or token auth (the test token server), on TLS with a test CA
// (and client certificates), and as a mirror of Docker Hub names. Written to the command-line contract
// of the issue: `bale pull NAME`, `bale push NAME [DESTINATION]` (a name that says where it goes, or a
// `docker://` destination), `bale login -u U --password-stdin SERVER`, `bale logout SERVER`,
// `--insecure`, `--registry-mirror URL` and `registry-mirrors` in `$XDG_CONFIG_HOME/bale/config.json`;
// credentials in `$DOCKER_CONFIG/config.json`; a private CA and client certificates from
// `/etc/docker/certs.d/HOST:PORT/`.

/// One test's world: a generated image in a seed store, and private Docker and bale config folders
/// (so neither the machine's logins nor its mirrors ever reach the test).
struct RegistryClientWorld {
    let directory: URL
    let layout: URL
    let seed: URL
    let dockerConfig: URL
    let xdgConfig: URL
    /// The seed image's name in the seed store and in the layout.
    static let name = "demo:1"

    static func with<T>(_ body: (RegistryClientWorld) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let layout = try Harness.makeLayout(in: directory, images: ["demo:1=layers=3,files=3,size=65536"])
            let seed = directory.appendingPathComponent("seed")
            let copy = try Harness.bale(["copy", "oci:\(layout.path):demo:1", name], root: seed)
            guard copy.succeeded else { throw HarnessError("seeding: \(copy)") }
            let world = RegistryClientWorld(
                directory: directory, layout: layout, seed: seed,
                dockerConfig: directory.appendingPathComponent("docker-config"),
                xdgConfig: directory.appendingPathComponent("xdg-config"))
            try FileManager.default.createDirectory(at: world.dockerConfig, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: world.xdgConfig, withIntermediateDirectories: true)
            return try body(world)
        }
    }

    var environment: [String: String?] {
        ["DOCKER_CONFIG": dockerConfig.path, "XDG_CONFIG_HOME": xdgConfig.path, "HOME": directory.path]
    }

    /// bale with this world's config folders; `root` nil: the seed store.
    func bale(_ arguments: [String], root: URL? = nil, stdin: String? = nil) throws -> RunResult {
        try Harness.bale(arguments, root: root ?? seed, stdin: stdin.map { Data($0.utf8) }, environment: environment)
    }

    /// bale as `bale(_:root:)` runs it, but unable to reach Docker Hub: in a mount namespace of its own
    /// (`unshare -m`, root) whose /etc/hosts sends Docker Hub's names to 0.0.0.0, so a pull that skips
    /// its mirrors fails at once instead of going out. (`unshare -n` would also hide the loopback
    /// registries.)
    func baleWithoutDockerHub(_ arguments: [String], root: URL) throws -> RunResult {
        try withoutDockerHub([try Harness.baleBinary().path, "--root", root.path] + arguments)
    }

    /// `command` (a path, then arguments) with this world's environment, where Docker Hub's names
    /// resolve to 0.0.0.0 (see `baleWithoutDockerHub`).
    func withoutDockerHub(_ command: [String]) throws -> RunResult {
        let hosts = directory.appendingPathComponent("hosts").path
        let names = ["docker.io", "index.docker.io", "registry-1.docker.io", "auth.docker.io",
                     "registry.hub.docker.com", "production.cloudflare.docker.com"]
        try (["127.0.0.1 localhost", "::1 localhost"] + names.map { "0.0.0.0 \($0)" })
            .joined(separator: "\n").appending("\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        let script = "mount --bind \"$0\" /etc/hosts && exec \"$@\""
        return try Harness.run(try Harness.requirePeer("unshare"),
                               ["-m", "sh", "-c", script, hosts] + command,
                               environment: environment)
    }

    /// A new empty store under the world's directory.
    func freshStore(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// The image ID (`inspect -f {{.Id}}`) of `name` in `root` (nil: the seed store).
    func imageID(_ name: String, root: URL? = nil) throws -> String {
        let r = try bale(["inspect", "-f", "{{.Id}}", name], root: root)
        guard r.succeeded else { throw HarnessError("inspect \(name): \(r)") }
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// skopeo copies the seed layout's image to `reference` (`HOST/NAME:TAG`) with `flags`.
    func skopeoPush(to reference: String, _ flags: [String]) throws {
        let r = try Harness.peer("skopeo", ["copy", "-q"] + flags + ["oci:\(layout.path):demo:1", "docker://\(reference)"])
        guard r.succeeded else { throw HarnessError("skopeo push to \(reference): \(r)") }
    }

    var configFile: String { dockerConfig.appendingPathComponent("config.json").path }

    /// The Docker config file as JSON.
    func config() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: configFile))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HarnessError("\(configFile) is not a JSON object")
        }
        return json
    }

    func configMode() throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: configFile)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}

/// True when one line of `r`'s stderr names `registry` and says what `words` say (any of them,
/// case-insensitive): the clear one-line error the issue asks for.
func errorLine(_ r: RunResult, naming registry: String, saying words: [String]) -> Bool {
    r.errLines.contains { line in
        line.contains(registry) && words.contains { line.lowercased().contains($0) }
    }
}

@Suite struct RegistryAuthTests {
    /// htpasswd: push without login fails with an auth message naming the registry; a wrong password
    /// fails login and saves nothing; login (saved in $DOCKER_CONFIG/config.json, 0600, other keys
    /// kept) makes push work; logout makes it fail again and keeps the rest of the file.
    @Test func loginPushLogoutWithHtpasswd() throws {
        try RegistryClientWorld.with { world in
            let htpasswd = world.directory.appendingPathComponent("htpasswd").path
            try writeHtpasswd(at: htpasswd, users: ["alice": "s3cret"])
            var options = Registry.Options()
            options.htpasswd = htpasswd
            try Registry.with(options) { registry in
                let host = registry.host
                let before = """
                {"psFormat": "table {{.ID}}", "auths": {"other.example:5000": {"auth": "eDp5"}}}
                """
                try before.write(toFile: world.configFile, atomically: true, encoding: .utf8)
                // docker's habit: tag, then push the name, which says where it goes.
                let tag = try world.bale(["tag", "demo:1", "\(host)/demo:1"])
                #expect(tag.succeeded, "\(tag)")

                let anonymous = try world.bale(["push", "\(host)/demo:1"])
                #expect(!anonymous.succeeded)
                #expect(errorLine(anonymous, naming: host, saying: ["auth", "login", "denied"]), "\(anonymous)")
                #expect(registry.requests("PUT", "/manifests/").isEmpty, "\(registry.log)")

                let wrong = try world.bale(["login", "-u", "alice", "--password-stdin", host], stdin: "wrong\n")
                #expect(!wrong.succeeded)
                #expect(!wrong.out.contains("Login Succeeded"), "\(wrong)")
                #expect(try String(contentsOfFile: world.configFile, encoding: .utf8) == before)

                let login = try world.bale(["login", "-u", "alice", "--password-stdin", host], stdin: "s3cret\n")
                #expect(login.succeeded, "\(login)")
                #expect(login.out.contains("Login Succeeded"), "\(login)")
                var config = try world.config()
                #expect(config["psFormat"] as? String == "table {{.ID}}")
                var auths = config["auths"] as? [String: [String: Any]] ?? [:]
                #expect(auths[host]?["auth"] as? String == Data("alice:s3cret".utf8).base64EncodedString(), "\(config)")
                #expect(auths["other.example:5000"]?["auth"] as? String == "eDp5", "\(config)")
                #expect(try world.configMode() == 0o600)

                let push = try world.bale(["push", "\(host)/demo:1"])
                #expect(push.succeeded, "\(push)")
                let inspect = try Harness.peer("skopeo", ["inspect", "--tls-verify=false", "--creds", "alice:s3cret", "docker://\(host)/demo:1"])
                #expect(inspect.succeeded, "\(inspect)")

                let logout = try world.bale(["logout", host])
                #expect(logout.succeeded, "\(logout)")
                config = try world.config()
                auths = config["auths"] as? [String: [String: Any]] ?? [:]
                #expect(auths[host] == nil, "\(config)")
                #expect(auths["other.example:5000"]?["auth"] as? String == "eDp5", "\(config)")
                #expect(config["psFormat"] as? String == "table {{.ID}}")
                #expect(try world.configMode() == 0o600)

                let again = try world.bale(["push", "\(host)/demo:1"])
                #expect(!again.succeeded)
                #expect(errorLine(again, naming: host, saying: ["auth", "login", "denied"]), "\(again)")
            }
        }
    }

    /// Token auth: an anonymous pull gets a pull token; after `bale login`, push and pull go through the
    /// Bearer flow with the user's credentials (the token server saw the scopes asked), and give the
    /// seed's image ID back.
    @Test func pullAndPushThroughTheBearerFlow() throws {
        try RegistryClientWorld.with { world in
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"]) { tokens in
                    var options = Registry.Options()
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let host = registry.host
                        let id = try world.imageID("demo:1")
                        try world.skopeoPush(to: "\(host)/skopeo/demo:1", ["--dest-tls-verify=false", "--dest-creds", "alice:s3cret"])

                        let anonymousStore = world.freshStore("anonymous")
                        let anonymous = try world.bale(["pull", "\(host)/skopeo/demo:1"], root: anonymousStore)
                        #expect(anonymous.succeeded, "\(anonymous)")
                        #expect(try world.imageID("\(host)/skopeo/demo:1", root: anonymousStore) == id)
                        #expect(tokens.granted(repository: "skopeo/demo", actions: ["pull"], account: nil), "\(tokens.log)")

                        let refused = try world.bale(["push", "demo:1", "docker://\(host)/bale/demo:1"])
                        #expect(!refused.succeeded, "\(refused)")
                        #expect(errorLine(refused, naming: host, saying: ["auth", "login", "denied"]), "\(refused)")

                        let login = try world.bale(["login", "-u", "alice", "--password-stdin", host], stdin: "s3cret\n")
                        #expect(login.succeeded && login.out.contains("Login Succeeded"), "\(login)")
                        let push = try world.bale(["push", "demo:1", "docker://\(host)/bale/demo:1"])
                        #expect(push.succeeded, "\(push)")
                        #expect(tokens.granted(repository: "bale/demo", actions: ["pull", "push"], account: "alice"), "\(tokens.log)")

                        let userStore = world.freshStore("user")
                        let pull = try world.bale(["pull", "\(host)/bale/demo:1"], root: userStore)
                        #expect(pull.succeeded, "\(pull)")
                        #expect(try world.imageID("\(host)/bale/demo:1", root: userStore) == id)
                        #expect(tokens.granted(repository: "bale/demo", actions: ["pull"], account: "alice"), "\(tokens.log)")
                        let check = try Harness.peer("skopeo", ["inspect", "--tls-verify=false", "--creds", "alice:s3cret", "docker://\(host)/bale/demo:1"])
                        #expect(check.succeeded, "\(check)")
                    }
                }
            }
        }
    }

    /// A token server that refuses anonymous tokens: pull fails with an auth message until login.
    @Test func anonymousPullRefusedUntilLogin() throws {
        try RegistryClientWorld.with { world in
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"], anonymousPull: false) { tokens in
                    var options = Registry.Options()
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let host = registry.host
                        try world.skopeoPush(to: "\(host)/demo:1", ["--dest-tls-verify=false", "--dest-creds", "alice:s3cret"])
                        let store = world.freshStore("pulled")
                        let anonymous = try world.bale(["pull", "\(host)/demo:1"], root: store)
                        #expect(!anonymous.succeeded)
                        #expect(errorLine(anonymous, naming: host, saying: ["auth", "login", "denied"]), "\(anonymous)")
                        let login = try world.bale(["login", "-u", "alice", "--password-stdin", host], stdin: "s3cret\n")
                        #expect(login.succeeded, "\(login)")
                        let pull = try world.bale(["pull", "\(host)/demo:1"], root: store)
                        #expect(pull.succeeded, "\(pull)")
                        #expect(try world.imageID("\(host)/demo:1", root: store) == world.imageID("demo:1"))
                    }
                }
            }
        }
    }
}

@Suite struct RegistryCertificateTests {
    static let tlsWords = ["certificate", "tls", "ssl", "trust"]

    /// A registry on TLS with its own CA: refused without trust, accepted with the CA in certs.d,
    /// accepted with `--insecure`.
    @Test func privateCAIsTrustedFromCertsDOrSkippedWithInsecure() throws {
        try RegistryClientWorld.with { world in
            try TestPKI.with { pki in
                var options = Registry.Options()
                options.tls = (pki.serverCertificate, pki.serverKey)
                try Registry.with(options) { registry in
                    let host = registry.host
                    let id = try world.imageID("demo:1")
                    let skopeoCerts = world.directory.appendingPathComponent("skopeo-certs").path
                    try pki.writeCertificateFolder(at: skopeoCerts, client: false)
                    try world.skopeoPush(to: "\(host)/skopeo/demo:1", ["--dest-cert-dir", skopeoCerts])

                    let untrustedPull = try world.bale(["pull", "\(host)/skopeo/demo:1"], root: world.freshStore("untrusted"))
                    #expect(!untrustedPull.succeeded)
                    #expect(errorLine(untrustedPull, naming: host, saying: Self.tlsWords), "\(untrustedPull)")
                    let untrustedPush = try world.bale(["push", "demo:1", "docker://\(host)/bale/demo:1"])
                    #expect(!untrustedPush.succeeded)
                    #expect(errorLine(untrustedPush, naming: host, saying: Self.tlsWords), "\(untrustedPush)")
                    #expect(registry.requests("PUT", "/v2/bale/demo/manifests/").isEmpty, "\(registry.log)")

                    try pki.withDockerCertificates(for: host, client: false) {
                        let store = world.freshStore("trusted")
                        let pull = try world.bale(["pull", "\(host)/skopeo/demo:1"], root: store)
                        #expect(pull.succeeded, "\(pull)")
                        #expect(try world.imageID("\(host)/skopeo/demo:1", root: store) == id)
                        let push = try world.bale(["push", "demo:1", "docker://\(host)/bale/demo:1"])
                        #expect(push.succeeded, "\(push)")
                    }
                    let check = try Harness.peer("skopeo", ["inspect", "--cert-dir", skopeoCerts, "docker://\(host)/bale/demo:1"])
                    #expect(check.succeeded, "\(check)")

                    let insecureStore = world.freshStore("insecure")
                    let insecure = try world.bale(["pull", "--insecure", "\(host)/bale/demo:1"], root: insecureStore)
                    #expect(insecure.succeeded, "\(insecure)")
                    #expect(try world.imageID("\(host)/bale/demo:1", root: insecureStore) == id)
                    let insecurePush = try world.bale(["push", "--insecure", "demo:1", "docker://\(host)/insecure/demo:1"])
                    #expect(insecurePush.succeeded, "\(insecurePush)")
                }
            }
        }
    }

    /// A registry that requires a client certificate: refused with the CA alone, accepted with
    /// `client.cert` and `client.key` beside it in certs.d.
    @Test func clientCertificateFromCertsD() throws {
        try RegistryClientWorld.with { world in
            try TestPKI.with { pki in
                var options = Registry.Options()
                options.tls = (pki.serverCertificate, pki.serverKey)
                options.clientCAs = [pki.caCertificate]
                try Registry.with(options) { registry in
                    let host = registry.host
                    let skopeoCerts = world.directory.appendingPathComponent("skopeo-certs").path
                    try pki.writeCertificateFolder(at: skopeoCerts, client: true)
                    try world.skopeoPush(to: "\(host)/demo:1", ["--dest-cert-dir", skopeoCerts])

                    try pki.withDockerCertificates(for: host, client: false) {
                        let refused = try world.bale(["pull", "\(host)/demo:1"], root: world.freshStore("ca-only"))
                        #expect(!refused.succeeded)
                        #expect(errorLine(refused, naming: host, saying: Self.tlsWords), "\(refused)")
                    }
                    try pki.withDockerCertificates(for: host, client: true) {
                        let store = world.freshStore("with-client")
                        let pull = try world.bale(["pull", "\(host)/demo:1"], root: store)
                        #expect(pull.succeeded, "\(pull)")
                        #expect(try world.imageID("\(host)/demo:1", root: store) == world.imageID("demo:1"))
                        let push = try world.bale(["push", "demo:1", "docker://\(host)/bale/demo:1"])
                        #expect(push.succeeded, "\(push)")
                    }
                }
            }
        }
    }
}

/// An air-gapped registry as it is usually run: TLS with its own CA, a required client certificate
/// and token auth, all at once; bale logs in, pushes and pulls with what certs.d and the Docker
/// config hold.
@Suite struct RegistryAirGapTests {
    @Test func loginPushPullWithPrivateCAClientCertificateAndTokenAuth() throws {
        try RegistryClientWorld.with { world in
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"], anonymousPull: false) { tokens in
                    var options = Registry.Options()
                    options.tls = (pki.serverCertificate, pki.serverKey)
                    options.clientCAs = [pki.caCertificate]
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let host = registry.host
                        try pki.withDockerCertificates(for: host, client: true) {
                            let login = try world.bale(["login", "-u", "alice", "--password-stdin", host], stdin: "s3cret\n")
                            #expect(login.succeeded && login.out.contains("Login Succeeded"), "\(login)")
                            let push = try world.bale(["push", "demo:1", "docker://\(host)/team/demo:1"])
                            #expect(push.succeeded, "\(push)")
                            #expect(tokens.granted(repository: "team/demo", actions: ["pull", "push"], account: "alice"), "\(tokens.log)")
                            let store = world.freshStore("pulled")
                            let pull = try world.bale(["pull", "\(host)/team/demo:1"], root: store)
                            #expect(pull.succeeded, "\(pull)")
                            #expect(try world.imageID("\(host)/team/demo:1", root: store) == world.imageID("demo:1"))
                        }
                        let skopeoCerts = world.directory.appendingPathComponent("skopeo-certs").path
                        try pki.writeCertificateFolder(at: skopeoCerts, client: true)
                        let check = try Harness.peer("skopeo", ["inspect", "--cert-dir", skopeoCerts, "--creds", "alice:s3cret",
                                                                "docker://\(host)/team/demo:1"])
                        #expect(check.succeeded, "\(check)")
                    }
                }
            }
        }
    }
}

/// Mirrors: a second `docker-registry` holding `library/mirrored:1` (seeded by skopeo) serves a pull of
/// the Docker Hub name `mirrored:1`, offline: bale runs where Docker Hub's names lead nowhere
/// (`baleWithoutDockerHub`), the mirror's log shows it served the manifest and blobs, and bale names the
/// mirror that served.
@Suite struct RegistryMirrorTests {
    /// A plain registry seeded with `library/mirrored:1`; `body` gets it and the seed's image ID.
    private func withMirror<T>(_ world: RegistryClientWorld, _ body: (Registry, String) throws -> T) throws -> T {
        try Registry.with { mirror in
            try world.skopeoPush(to: "\(mirror.host)/library/mirrored:1", ["--dest-tls-verify=false"])
            return try body(mirror, try world.imageID("demo:1"))
        }
    }

    private func expectServed(by mirror: Registry, _ pull: RunResult, id: String, store: URL, world: RegistryClientWorld) throws {
        #expect(pull.succeeded, "\(pull)")
        #expect(!mirror.requests("GET", "/v2/library/mirrored/manifests/1").isEmpty, "\(mirror.log)")
        #expect(!mirror.requests("GET", "/v2/library/mirrored/blobs/sha256:").isEmpty, "\(mirror.log)")
        #expect((pull.out + pull.err).contains(mirror.host), "bale does not say which mirror served: \(pull)")
        #expect(try world.imageID("mirrored:1", root: store) == id)
        #expect(try world.imageID("docker.io/library/mirrored:1", root: store) == id)
    }

    @Test func pullOfADockerHubNameFromRegistryMirrorFlag() throws {
        try RegistryClientWorld.with { world in
            try withMirror(world) { mirror, id in
                let store = world.freshStore("pulled")
                let pull = try world.baleWithoutDockerHub(["pull", "--registry-mirror", mirror.url, "mirrored:1"], root: store)
                try expectServed(by: mirror, pull, id: id, store: store, world: world)
            }
        }
    }

    /// A pull-through cache in front of a loopback registry that plays Docker Hub: the cache serves
    /// the pull (fetching from its upstream), bale never asks the upstream itself.
    @Test func pullOfADockerHubNameThroughAPullThroughCache() throws {
        try RegistryClientWorld.with { world in
            try withMirror(world) { upstream, id in
                var options = Registry.Options()
                options.proxyRemoteURL = upstream.url
                try Registry.with(options) { cache in
                    let store = world.freshStore("pulled")
                    let pull = try world.baleWithoutDockerHub(["pull", "--registry-mirror", cache.url, "mirrored:1"], root: store)
                    try expectServed(by: cache, pull, id: id, store: store, world: world)
                    #expect(!upstream.requests("GET", "/v2/library/mirrored/manifests/1").isEmpty, "\(upstream.log)")
                    // Every request the upstream saw came from the cache (Go's user agent), none from bale.
                    #expect(upstream.log.split(separator: "\n").filter { $0.contains("\"GET /v2/library/") }
                        .allSatisfy { $0.contains("Go-http-client") }, "\(upstream.log)")
                }
            }
        }
    }

    /// The config file's mirrors are tried in order: the first (an empty registry) lacks the image, the
    /// second serves it.
    @Test func pullOfADockerHubNameFromConfiguredMirrorsInOrder() throws {
        try RegistryClientWorld.with { world in
            try Registry.with { empty in
                try withMirror(world) { mirror, id in
                    let folder = world.xdgConfig.appendingPathComponent("bale")
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                    let config = ["registry-mirrors": [empty.url, mirror.url]]
                    try JSONSerialization.data(withJSONObject: config)
                        .write(to: folder.appendingPathComponent("config.json"))
                    let store = world.freshStore("pulled")
                    let pull = try world.baleWithoutDockerHub(["pull", "mirrored:1"], root: store)
                    try expectServed(by: mirror, pull, id: id, store: store, world: world)
                    #expect(!empty.requests("GET", "/v2/library/mirrored/manifests/1").isEmpty, "\(empty.log)")
                }
            }
        }
    }
}
