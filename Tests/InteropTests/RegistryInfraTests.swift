import Foundation
import Testing
import TestSupport

/// The registry tests' infrastructure (htpasswd files, the test CA, the token server, client
/// certificates) checked against the real peers: skopeo pushes and inspects through each, with the
/// right credentials or certificates, and fails without them, so that the bale tests built on them
/// can fail for the right reason.
@Suite struct RegistryInfraTests {
    static let image = "demo:1=layers=2,files=2,size=4096"

    /// skopeo with `arguments` (its result, not checked).
    private func skopeo(_ arguments: [String]) throws -> RunResult {
        try Harness.peer("skopeo", arguments)
    }

    private func push(_ layout: URL, to reference: String, _ flags: [String]) throws -> RunResult {
        try skopeo(["copy", "-q"] + flags + ["oci:\(layout.path):demo:1", "docker://\(reference)"])
    }

    @Test func htpasswdRegistryTakesTheRightPasswordOnly() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            let htpasswd = dir.appendingPathComponent("htpasswd").path
            try writeHtpasswd(at: htpasswd, users: ["alice": "s3cret", "bob": "other"])
            var options = Registry.Options()
            options.htpasswd = htpasswd
            try Registry.with(options) { registry in
                let plain = ["--dest-tls-verify=false"]
                let anonymous = try push(layout, to: "\(registry.host)/demo:1", plain)
                #expect(!anonymous.succeeded)
                #expect(anonymous.err.contains("authentication required") || anonymous.err.contains("unauthorized"), "\(anonymous)")
                let wrong = try push(layout, to: "\(registry.host)/demo:1", plain + ["--dest-creds", "alice:wrong"])
                #expect(!wrong.succeeded, "\(wrong)")
                let right = try push(layout, to: "\(registry.host)/demo:1", plain + ["--dest-creds", "alice:s3cret"])
                #expect(right.succeeded, "\(right)")
                let inspect = try skopeo(["inspect", "--tls-verify=false", "--creds", "bob:other", "docker://\(registry.host)/demo:1"])
                #expect(inspect.succeeded, "\(inspect)")
                #expect(!registry.requests("PUT", "/v2/demo/manifests/1").isEmpty, "\(registry.log)")
            }
        }
    }

    @Test func tokenServerGivesPushToUsersAndPullToAnonymous() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"]) { tokens in
                    var options = Registry.Options()
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let plain = ["--dest-tls-verify=false"]
                        let wrong = try push(layout, to: "\(registry.host)/demo:1", plain + ["--dest-creds", "alice:wrong"])
                        #expect(!wrong.succeeded, "\(wrong)")
                        #expect(!tokens.granted(repository: "demo", actions: ["push"], account: "alice"), "\(tokens.log)")
                        let anonymous = try push(layout, to: "\(registry.host)/demo:1", plain)
                        #expect(!anonymous.succeeded, "\(anonymous)")
                        let right = try push(layout, to: "\(registry.host)/demo:1", plain + ["--dest-creds", "alice:s3cret"])
                        #expect(right.succeeded, "\(right)")
                        #expect(tokens.granted(repository: "demo", actions: ["pull", "push"], account: "alice"), "\(tokens.log)")
                        #expect(tokens.requests.allSatisfy { $0.service == tokens.service }, "\(tokens.log)")

                        let pull = try skopeo(["inspect", "--tls-verify=false", "docker://\(registry.host)/demo:1"])
                        #expect(pull.succeeded, "\(pull)")
                        #expect(tokens.granted(repository: "demo", actions: ["pull"], account: nil), "\(tokens.log)")
                    }
                }
            }
        }
    }

    @Test func tokenServerCanRefuseAnonymousPulls() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"], anonymousPull: false) { tokens in
                    var options = Registry.Options()
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let push = try push(layout, to: "\(registry.host)/demo:1", ["--dest-tls-verify=false", "--dest-creds", "alice:s3cret"])
                        #expect(push.succeeded, "\(push)")
                        let anonymous = try skopeo(["inspect", "--tls-verify=false", "docker://\(registry.host)/demo:1"])
                        #expect(!anonymous.succeeded, "\(anonymous)")
                        #expect(tokens.requests.contains { $0.account == nil && $0.status == 401 }, "\(tokens.log)")
                        let user = try skopeo(["inspect", "--tls-verify=false", "--creds", "alice:s3cret", "docker://\(registry.host)/demo:1"])
                        #expect(user.succeeded, "\(user)")
                    }
                }
            }
        }
    }

    /// The OAuth2 form (POST, `grant_type=password`, then `refresh_token`), as a client with an
    /// identity token asks: the tokens it gives open the registry's API to curl.
    @Test func tokenServerAnswersTheOAuth2PostFlow() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"], anonymousPull: false) { tokens in
                    var options = Registry.Options()
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let pushed = try push(layout, to: "\(registry.host)/demo:1", ["--dest-tls-verify=false", "--dest-creds", "alice:s3cret"])
                        #expect(pushed.succeeded, "\(pushed)")
                        let scope = "repository:demo:pull"
                        func post(_ form: String) throws -> [String: Any] {
                            let r = try Harness.peer("curl", ["-sf", "--data", form + "&service=\(tokens.service)&scope=\(scope)", tokens.realm])
                            guard r.succeeded, let json = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any]
                            else { throw HarnessError("token POST \(form): \(r)") }
                            return json
                        }
                        func tags(_ token: Any?) throws -> RunResult {
                            try Harness.peer("curl", ["-sf", "-H", "Authorization: Bearer \(token as? String ?? "")",
                                                      "http://\(registry.host)/v2/demo/tags/list"])
                        }
                        let first = try post("grant_type=password&username=alice&password=s3cret&client_id=bale-test")
                        #expect(first["expires_in"] as? Int == 300)
                        #expect(first["issued_at"] is String)
                        #expect(first["token"] as? String == first["access_token"] as? String)
                        let list = try tags(first["access_token"])
                        #expect(list.succeeded && list.out.contains("\"1\""), "\(list)")
                        let refreshed = try post("grant_type=refresh_token&refresh_token=\(first["refresh_token"] as? String ?? "")&client_id=bale-test")
                        #expect(try tags(refreshed["access_token"]).succeeded)
                        #expect(!(try tags("not-a-token").succeeded))
                        #expect(throws: HarnessError.self) { try post("grant_type=password&username=alice&password=wrong") }
                    }
                }
            }
        }
    }

    @Test func tlsRegistryIsTrustedThroughItsCAOnly() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try TestPKI.with { pki in
                var options = Registry.Options()
                options.tls = (pki.serverCertificate, pki.serverKey)
                try Registry.with(options) { registry in
                    #expect(registry.url == "https://\(registry.host)")
                    let certs = dir.appendingPathComponent("certs").path
                    try pki.writeCertificateFolder(at: certs, client: false)
                    let untrusted = try push(layout, to: "\(registry.host)/demo:1", [])
                    #expect(!untrusted.succeeded)
                    #expect(untrusted.err.contains("unknown authority"), "\(untrusted)")
                    let trusted = try push(layout, to: "\(registry.host)/demo:1", ["--dest-cert-dir", certs])
                    #expect(trusted.succeeded, "\(trusted)")
                    let noVerify = try skopeo(["inspect", "--tls-verify=false", "docker://\(registry.host)/demo:1"])
                    #expect(noVerify.succeeded, "\(noVerify)")
                    // The SAN names localhost as well as the address.
                    let port = registry.host.split(separator: ":").last.map(String.init) ?? ""
                    let curl = try Harness.peer("curl", ["-sf", "--cacert", pki.caCertificate, "https://localhost:\(port)/v2/"])
                    #expect(curl.succeeded, "\(curl)")
                }
            }
        }
    }

    @Test func tlsRegistryCanRequireAClientCertificate() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try TestPKI.with { pki in
                var options = Registry.Options()
                options.tls = (pki.serverCertificate, pki.serverKey)
                options.clientCAs = [pki.caCertificate]
                try Registry.with(options) { registry in
                    let caOnly = dir.appendingPathComponent("ca-only").path
                    try pki.writeCertificateFolder(at: caOnly, client: false)
                    let withClient = dir.appendingPathComponent("with-client").path
                    try pki.writeCertificateFolder(at: withClient, client: true)
                    let refused = try push(layout, to: "\(registry.host)/demo:1", ["--dest-cert-dir", caOnly])
                    #expect(!refused.succeeded)
                    #expect(refused.err.contains("bad certificate") || refused.err.contains("certificate required"), "\(refused)")
                    let accepted = try push(layout, to: "\(registry.host)/demo:1", ["--dest-cert-dir", withClient])
                    #expect(accepted.succeeded, "\(accepted)")
                }
            }
        }
    }

    /// TLS, a required client certificate and token auth together, as an air-gapped registry runs.
    @Test func tokenAuthOverTLSWithAClientCertificate() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try TestPKI.with { pki in
                try TokenServer.with(pki: pki, users: ["alice": "s3cret"]) { tokens in
                    var options = Registry.Options()
                    options.tls = (pki.serverCertificate, pki.serverKey)
                    options.clientCAs = [pki.caCertificate]
                    options.token = tokens.registryOptions
                    try Registry.with(options) { registry in
                        let certs = dir.appendingPathComponent("certs").path
                        try pki.writeCertificateFolder(at: certs, client: true)
                        let push = try push(layout, to: "\(registry.host)/team/demo:1", ["--dest-cert-dir", certs, "--dest-creds", "alice:s3cret"])
                        #expect(push.succeeded, "\(push)")
                        #expect(tokens.granted(repository: "team/demo", actions: ["pull", "push"], account: "alice"), "\(tokens.log)")
                    }
                }
            }
        }
    }

    /// A pull-through cache (a mirror as docker's registry-mirrors usually are) of a loopback upstream:
    /// skopeo reads through it, and the upstream's log shows the cache fetched the image.
    @Test func pullThroughCacheServesItsUpstream() throws {
        try Harness.withTemporaryDirectory { dir in
            let layout = try Harness.makeLayout(in: dir, images: [Self.image])
            try Registry.with { upstream in
                let pushed = try push(layout, to: "\(upstream.host)/library/demo:1", ["--dest-tls-verify=false"])
                #expect(pushed.succeeded, "\(pushed)")
                var options = Registry.Options()
                options.proxyRemoteURL = upstream.url
                let manifestsBefore = upstream.requests("GET", "/v2/library/demo/manifests/1").count
                let blobsBefore = upstream.requests("GET", "/v2/library/demo/blobs/sha256:").count
                try Registry.with(options) { cache in
                    let copy = try skopeo(["copy", "-q", "--src-tls-verify=false", "docker://\(cache.host)/library/demo:1",
                                           "oci:\(dir.path)/through:demo"])
                    #expect(copy.succeeded, "\(copy)")
                    #expect(!cache.requests("GET", "/v2/library/demo/manifests/1").isEmpty, "\(cache.log)")
                    #expect(upstream.requests("GET", "/v2/library/demo/manifests/1").count > manifestsBefore, "\(upstream.log)")
                    #expect(upstream.requests("GET", "/v2/library/demo/blobs/sha256:").count > blobsBefore, "\(upstream.log)")
                }
            }
        }
    }

    /// The mirror tests' guard runs bale (here `images` on the seed store) in a mount namespace whose
    /// /etc/hosts sends Docker Hub's names nowhere, and leaves the machine's /etc/hosts alone.
    @Test func baleRunsWithDockerHubUnreachable() throws {
        let before = try String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        try RegistryClientWorld.with { world in
            let r = try world.baleWithoutDockerHub(["images", "--format", "{{.Repository}}:{{.Tag}}"], root: world.seed)
            #expect(r.succeeded && r.out.contains("demo:1"), "\(r)")
            let getent = try world.withoutDockerHub([try Harness.requirePeer("getent").path, "hosts", "registry-1.docker.io"])
            #expect(getent.succeeded && getent.out.hasPrefix("0.0.0.0"), "\(getent)")
        }
        #expect(try String(contentsOfFile: "/etc/hosts", encoding: .utf8) == before)
    }

    /// The certs.d helper writes docker's folder for the registry's own port and removes it afterwards.
    @Test func dockerCertificateFolderLastsForTheBodyOnly() throws {
        try TestPKI.with { pki in
            try Harness.withTemporaryDirectory { dir in
                let host = "127.0.0.1:\(try freePort())"
                let folder = dir.path + "/" + host
                try pki.withDockerCertificates(for: host, client: true, certsDirectory: dir.path) {
                    for file in ["ca.crt", "client.cert", "client.key"] {
                        #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file)")
                    }
                    #expect(throws: HarnessError.self) {
                        try pki.withDockerCertificates(for: host, client: false, certsDirectory: dir.path) {}
                    }
                }
                #expect(!FileManager.default.fileExists(atPath: folder))
            }
        }
    }
}
