import Foundation
import Testing
import TestSupport

/// `bale push`, `bale pull` and `docker://` against the real `docker-registry` on 127.0.0.1, read and
/// written by skopeo and the private dockerd as well.
@Suite(.serialized) struct RegistryPushPullTests {
    /// Copies `layoutRef` of `layout` into the store at `root` as `name`.
    static func seed(_ root: URL, _ layout: URL, _ layoutRef: String, as name: String, flags: [String] = []) throws {
        let r = try Harness.bale(["copy"] + flags + ["oci:\(layout.path):\(layoutRef)", name], root: root)
        guard r.succeeded else { throw HarnessError("seeding \(name): \(r)") }
    }

    static func must(_ arguments: [String], root: URL) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        guard r.succeeded else { throw HarnessError("bale \(arguments.joined(separator: " ")): \(r)") }
        return r
    }

    /// The image ID (config digest) bale's store gives `name`.
    static func imageID(_ name: String, root: URL) throws -> String {
        try must(["inspect", "--format", "{{.Id}}", name], root: root).out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func pushIsReadBySkopeoAndDockerWithTheSameDigests() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["app:1=layers=3"])
                let expected = try LayoutReader.image("app:1", in: layout)
                let store = dir.appendingPathComponent("store")
                let name = "\(registry.host)/app:1"
                try Self.seed(store, layout, "app:1", as: name)

                let push = try Self.must(["push", name], root: store)
                let lines = push.out.split(separator: "\n").map(String.init)
                #expect(lines.first == "The push refers to repository [\(registry.host)/app]")
                #expect(lines.filter { $0.hasSuffix(": Pushed") }.count == 3, "\(push.out)")
                #expect(lines.last?.hasPrefix("1: digest: \(expected.manifestDigest) size: ") == true, "\(push.out)")

                let skopeo = try Harness.peer("skopeo", ["inspect", "--tls-verify=false", "docker://\(name)"])
                #expect(skopeo.succeeded, "\(skopeo)")
                #expect(skopeo.out.contains("\"Digest\": \"\(expected.manifestDigest)\""), "\(skopeo.out)")
                let copied = dir.appendingPathComponent("skopeo-copy")
                let copy = try Harness.peer("skopeo", ["copy", "--src-tls-verify=false", "docker://\(name)", "oci:\(copied.path):x"])
                #expect(copy.succeeded, "\(copy)")
                #expect(try LayoutReader.image("x", in: copied).manifestDigest == expected.manifestDigest)

                try DockerDaemon.with { docker in
                    try docker.must(["pull", name])
                    let id = try docker.must(["image", "inspect", "--format", "{{.Id}}", name]).out
                    #expect(id.trimmingCharacters(in: .whitespacesAndNewlines) == expected.configDigest)
                }

                // A second push finds everything there: no upload starts.
                let uploadsBefore = registry.requests("POST", "/blobs/uploads/").count
                let again = try Self.must(["push", name], root: store)
                #expect(again.out.components(separatedBy: ": Layer already exists").count - 1 == 3, "\(again.out)")
                #expect(registry.requests("POST", "/blobs/uploads/").count == uploadsBefore)
            }
        }
    }

    @Test func pullOfWhatSkopeoAndDockerPushedGivesTheirIDs() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                // OCI-typed: skopeo reads nothing else from an OCI layout (FORMATS.md section 10).
                let layout = try Harness.makeLayout(in: dir, images: ["app:1"])
                let expected = try LayoutReader.image("app:1", in: layout)
                let pushed = try Harness.peer("skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layout.path):app:1",
                                                         "docker://\(registry.host)/sk:1"])
                #expect(pushed.succeeded, "\(pushed)")
                let store = dir.appendingPathComponent("store")
                let name = "\(registry.host)/sk:1"
                let pull = try Self.must(["pull", name], root: store)
                let lines = pull.out.split(separator: "\n").map(String.init)
                #expect(lines.first == "1: Pulling from sk")
                #expect(lines.filter { $0.hasSuffix(": Pull complete") }.count == expected.layerDigests.count, "\(pull.out)")
                #expect(lines.contains("Digest: \(expected.manifestDigest)"), "\(pull.out)")
                #expect(lines.contains("Status: Downloaded newer image for \(name)"), "\(pull.out)")
                #expect(lines.last == name)
                #expect(try Self.imageID(name, root: store) == expected.configDigest)

                let again = try Self.must(["pull", name], root: store)
                #expect(again.out.contains("Status: Image is up to date for \(name)"), "\(again.out)")
                #expect(try Self.must(["pull", "-q", name], root: store).out == name + "\n")

                // What docker pushes.
                let archive = dir.appendingPathComponent("app.tar")
                _ = try Self.must(["save", "-o", archive.path, name], root: store)
                try DockerDaemon.with { docker in
                    try docker.must(["load", "-i", archive.path])
                    try docker.must(["tag", name, "\(registry.host)/dk:2"])
                    try docker.must(["push", "\(registry.host)/dk:2"])
                    let id = try docker.must(["image", "inspect", "--format", "{{.Id}}", "\(registry.host)/dk:2"]).out
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    let fresh = dir.appendingPathComponent("fresh")
                    _ = try Self.must(["pull", "\(registry.host)/dk:2"], root: fresh)
                    #expect(try Self.imageID("\(registry.host)/dk:2", root: fresh) == id)
                }
            }
        }
    }

    @Test func aSharedBaseLayerIsNeverUploadedTwice() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["base:1=layers=2", "app:1=base=base:1,layers=1"])
                let base = try LayoutReader.image("base:1", in: layout)
                let store = dir.appendingPathComponent("store")
                try Self.seed(store, layout, "base:1", as: "\(registry.host)/base:1")
                try Self.seed(store, layout, "app:1", as: "\(registry.host)/app:1")
                _ = try Self.must(["push", "\(registry.host)/base:1"], root: store)
                let push = try Self.must(["push", "\(registry.host)/app:1"], root: store)
                #expect(push.out.components(separatedBy: ": Mounted from base").count - 1 == 2, "\(push.out)")
                #expect(push.out.components(separatedBy: ": Pushed").count - 1 == 1, "\(push.out)")
                for layer in base.layerDigests {
                    let hex = String(layer.dropFirst("sha256:".count))
                    // One upload (the PUT that ends it) in all, by the first push.
                    #expect(registry.requests("PUT", hex).count == 1, "\(registry.requests("PUT", hex))")
                }
                // Same repository, another tag: HEAD finds them all.
                _ = try Self.must(["tag", "\(registry.host)/app:1", "\(registry.host)/app:2"], root: store)
                let retag = try Self.must(["push", "\(registry.host)/app:2"], root: store)
                #expect(retag.out.components(separatedBy: ": Layer already exists").count - 1 == 3, "\(retag.out)")
            }
        }
    }

    @Test func pullByDigestAndDockerLocationsBothWays() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["app:1", "tool:2"])
                let app = try LayoutReader.image("app:1", in: layout)
                let store = dir.appendingPathComponent("store")
                _ = try Self.must(["copy", "oci:\(layout.path):app:1", "docker://\(registry.host)/c/app:1"], root: store)
                _ = try Self.must(["copy", "oci:\(layout.path):tool:2", "docker://\(registry.host)/c/tool:2"], root: store)

                let byDigest = "\(registry.host)/c/app@\(app.manifestDigest)"
                let pull = try Self.must(["pull", byDigest], root: store)
                #expect(pull.out.contains("Digest: \(app.manifestDigest)"), "\(pull.out)")
                #expect(try Self.imageID(app.configDigest, root: store) == app.configDigest)

                let out = dir.appendingPathComponent("out")
                _ = try Self.must(["copy", "docker://\(registry.host)/c/app:1", "oci:\(out.path):a"], root: store)
                #expect(try LayoutReader.image("a", in: out).manifestDigest == app.manifestDigest)

                // The whole registry through its catalog.
                let all = dir.appendingPathComponent("all")
                _ = try Self.must(["copy", "docker://\(registry.host)", "oci:\(all.path)"], root: store)
                // An OCI layout keeps tags as ref names.
                let names = try LayoutReader.images(in: all).compactMap(\.refName).sorted()
                #expect(names == ["1", "2"], "\(names)")
                #expect(Set(try LayoutReader.images(in: all).map(\.manifestDigest)).contains(app.manifestDigest))
            }
        }
    }

    @Test func multiPlatformIndexPushAndPull() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["m:amd=arch=amd64", "m:arm=arch=arm64,variant=v8"])
                let armImage = try LayoutReader.image("m:arm", in: layout)
                let index = try Self.makeIndex(layout, refs: ["m:amd": ("amd64", nil), "m:arm": ("arm64", "v8")], name: "multi:1")
                let store = dir.appendingPathComponent("store")
                let name = "\(registry.host)/multi:1"
                try Self.seed(store, layout, "multi:1", as: name, flags: ["--all-platforms"])
                let push = try Self.must(["push", name], root: store)
                #expect(push.out.contains("1: digest: \(index) size: "), "\(push.out)")
                let raw = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(name)"])
                #expect(raw.succeeded && raw.out.contains("image.index"), "\(raw)")

                let fresh = dir.appendingPathComponent("fresh")
                let pull = try Self.must(["pull", "--all-platforms", name], root: fresh)
                #expect(pull.out.contains("Digest: \(index)"), "\(pull.out)")
                let arm = dir.appendingPathComponent("arm")
                let one = try Self.must(["pull", "--platform", "linux/arm64/v8", name], root: arm)
                #expect(one.out.contains("Digest: \(armImage.manifestDigest)"), "\(one.out)")
            }
        }
    }

    /// Adds an OCI index of `refs` (with their platforms) to `layout` as `name`; returns its digest.
    static func makeIndex(_ layout: URL, refs: [String: (arch: String, variant: String?)], name: String) throws -> String {
        let images = try LayoutReader.images(in: layout)
        var manifests: [[String: Any]] = []
        for (ref, platform) in refs.sorted(by: { $0.key < $1.key }) {
            let image = try #require(images.first { $0.refName == ref })
            let size = try Data(contentsOf: LayoutReader.blobURL(layout, image.manifestDigest)).count
            var p: [String: Any] = ["os": "linux", "architecture": platform.arch]
            if let variant = platform.variant { p["variant"] = variant }
            manifests.append(["mediaType": image.manifestMediaType, "digest": image.manifestDigest, "size": size, "platform": p])
        }
        let index = try JSONSerialization.data(withJSONObject: ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                                                 "manifests": manifests], options: [.sortedKeys])
        let hex = sha256Hex(index)
        try index.write(to: layout.appendingPathComponent("blobs/sha256/\(hex)"))
        let indexJSON = layout.appendingPathComponent("index.json")
        var top = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: indexJSON)) as? [String: Any])
        var entries = top["manifests"] as? [[String: Any]] ?? []
        entries.append(["mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:\(hex)", "size": index.count,
                        "annotations": ["org.opencontainers.image.ref.name": name]])
        top["manifests"] = entries
        try JSONSerialization.data(withJSONObject: top, options: [.sortedKeys]).write(to: indexJSON)
        return "sha256:\(hex)"
    }

    static func sha256Hex(_ data: Data) -> String {
        let r = try? Harness.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [], stdin: data)
        return String((r?.out ?? "").prefix(64))
    }
}

/// Pulls through a proxy that breaks things: a dropped connection resumes with Range; wrong bytes, a
/// changed manifest and an endless body are clear errors that leave the store as it was.
@Suite(.serialized) struct RegistryFaultTests {
    /// A registry holding `app:1` with one ~6 MiB layer (incompressible), and the layout it came from.
    static func withImage(_ body: (Registry, URL, LayoutImage) throws -> Void) throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["app:1=layers=1,files=3,size=2000000"])
                let r = try Harness.bale(["copy", "oci:\(layout.path):app:1", "docker://\(registry.host)/app:1"],
                                         root: dir.appendingPathComponent("seed"))
                guard r.succeeded else { throw HarnessError("push: \(r)") }
                try body(registry, dir, try LayoutReader.image("app:1", in: layout))
            }
        }
    }

    @Test func onATerminalEachBlobHasItsProgressLine() throws {
        try Self.withImage { registry, dir, image in
            // script(1) gives bale a terminal; its output is what the terminal was sent.
            let bale = try ProcessRunner.baleBinary().path
            let store = dir.appendingPathComponent("store").path
            let pull = try Harness.peer("script", ["-qec", "\(bale) --root \(store) pull \(registry.host)/app:1", "/dev/null"])
            #expect(pull.succeeded, "\(pull)")
            let layer = String(image.layerDigests[0].dropFirst("sha256:".count).prefix(12))
            #expect(pull.out.contains("\(layer): Downloading ["), "\(pull.out)")
            #expect(pull.out.contains("\(layer): Pull complete"), "\(pull.out)")
            // Every drawing is cleared before a line is printed: the last text is docker's, plain.
            #expect(pull.out.contains("\r\u{1b}[J"), "\(pull.out)")
            #expect(pull.out.hasSuffix("\(registry.host)/app:1\r\n"), "\(pull.out)")
            try Registry.with { second in
                let push = try Harness.peer("script", ["-qec", "\(bale) --root \(store) push \(registry.host)/app:1 \(second.host)/app:1", "/dev/null"])
                #expect(push.succeeded, "\(push)")
                #expect(push.out.contains("\(layer): Pushing ["), "\(push.out)")
                #expect(push.out.contains("\(layer): Pushed"), "\(push.out)")
            }
        }
    }

    @Test func aConnectionCutMidBlobResumesWithRange() throws {
        try Self.withImage { registry, dir, image in
            try FaultProxy.with(upstream: registry.host, mode: "cut") { proxy in
                let store = dir.appendingPathComponent("store")
                let pull = try Harness.bale(["pull", "\(proxy.host)/app:1"], root: store)
                #expect(pull.succeeded, "\(pull)")
                let layer = image.layerDigests[0]
                let ranged = proxy.requests.filter { $0.contains("/blobs/\(layer)") && $0.contains("bytes=") }
                #expect(ranged.count == 1, "\(proxy.requests)")
                #expect(try RegistryPushPullTests.imageID("\(proxy.host)/app:1", root: store) == image.configDigest)
                // The registry served the rest from the offset, not the whole blob twice.
                #expect(registry.requests("GET", "/blobs/\(layer)").count == 2)
            }
        }
    }

    @Test func anUploadCutMidBlobStartsAgainFromTheSource() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                // One 12 MB layer: over the monolithic limit, so it streams in one PATCH, which the
                // proxy cuts in half.
                let layout = try Harness.makeLayout(in: dir, images: ["app:1=layers=1,files=3,size=4000000"])
                let image = try LayoutReader.image("app:1", in: layout)
                try FaultProxy.with(upstream: registry.host, mode: "cut-upload") { proxy in
                    let push = try Harness.bale(["copy", "oci:\(layout.path):app:1", "docker://\(proxy.host)/app:1"],
                                                root: dir.appendingPathComponent("store"))
                    #expect(push.succeeded, "\(push)")
                    let requests = proxy.requests
                    let firstPatch = try #require(requests.firstIndex { $0.hasPrefix("PATCH ") })
                    // After the cut: no status GET (distribution 2.8 would cancel the session) but a
                    // new session, into which the whole layer is read again from the source.
                    #expect(requests[(firstPatch + 1)...].first?.hasPrefix("POST /v2/app/blobs/uploads/") == true, "\(requests)")
                    #expect(!requests.contains { $0.hasPrefix("GET /v2/app/blobs/uploads/") }, "\(requests)")
                    // Two sessions for the layer, one for the config; one PATCH per layer session (the
                    // config goes up whole in its PUT).
                    #expect(requests.filter { $0.hasPrefix("POST /v2/app/blobs/uploads/") }.count == 3, "\(requests)")
                    #expect(requests.filter { $0.hasPrefix("PATCH ") }.count == 2, "\(requests)")
                }
                let skopeo = try Harness.peer("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/app:1"])
                #expect(skopeo.out.contains("\"Digest\": \"\(image.manifestDigest)\""), "\(skopeo)")
                let pulled = dir.appendingPathComponent("pulled")
                _ = try RegistryPushPullTests.must(["pull", "\(registry.host)/app:1"], root: pulled)
                #expect(try RegistryPushPullTests.imageID("\(registry.host)/app:1", root: pulled) == image.configDigest)
            }
        }
    }

    @Test func anUploadRefusedMidBodyIsReportedNotWaitedFor() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["app:1=layers=1,files=3,size=4000000"])
                try FaultProxy.with(upstream: registry.host, mode: "refuse-upload") { proxy in
                    // The proxy answers the PATCH at once and then holds the connection open for 20 s,
                    // reading nothing: bale stops sending and says what the registry said.
                    let start = Date()
                    let push = try Harness.bale(["copy", "oci:\(layout.path):app:1", "docker://\(proxy.host)/app:1"],
                                                root: dir.appendingPathComponent("store"))
                    #expect(!push.succeeded)
                    #expect(Date().timeIntervalSince(start) < 15, "\(push)")
                    #expect(push.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count == 1, "\(push.err)")
                    #expect(push.err.contains("413") || push.err.contains("quota"), "\(push.err)")
                    // A refusal is the registry's answer, not a dropped connection: not sent again.
                    #expect(proxy.requests.filter { $0.hasPrefix("PATCH ") }.count == 1, "\(proxy.requests)")
                }
            }
        }
    }

    @Test func aDamagedSourceBlobIsRefusedOnceNotUploadedOrRetried() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                // A 12 MB layer (streamed) with one byte changed in the layout, its size the same.
                let layout = try Harness.makeLayout(in: dir, images: ["app:1=layers=1,files=3,size=4000000"])
                let image = try LayoutReader.image("app:1", in: layout)
                let hex = image.layerDigests[0].dropFirst("sha256:".count)
                let file = try FileHandle(forUpdating: layout.appendingPathComponent("blobs/sha256/\(hex)"))
                try file.seek(toOffset: 5_000_000)
                let byte = try #require(file.readData(ofLength: 1).first)
                try file.seek(toOffset: 5_000_000)
                file.write(Data([byte ^ 0xff]))
                try file.close()
                let push = try Harness.bale(["copy", "oci:\(layout.path):app:1", "docker://\(registry.host)/app:1"],
                                            root: dir.appendingPathComponent("store"))
                #expect(!push.succeeded)
                #expect(push.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count == 1, "\(push.err)")
                #expect(push.err.contains(image.layerDigests[0]) && push.err.contains("hash to"), "\(push.err)")
                // Bad bytes are the source's fault: no retry (one session for the layer, perhaps one for
                // the config), and no final PUT that would make them a blob.
                #expect(registry.requests("POST", "/blobs/uploads/").count <= 2, "\(registry.log)")
                #expect(registry.requests("PUT", "digest=\(image.layerDigests[0])").isEmpty)
                let tags = try Harness.peer("skopeo", ["list-tags", "--tls-verify=false", "docker://\(registry.host)/app"])
                #expect(!tags.out.contains("\"1\""), "\(tags)")
            }
        }
    }

    @Test(arguments: [
        ("corrupt", "digest"),
        ("manifest", "the registry sent content of digest"),
        ("endless", "more than its"),
        ("redirect-loop", "redirect"),
        ("unauthorized", "authentication required"),
    ])
    func aRegistryThatLiesIsAClearErrorAndTheStoreStaysAsItWas(mode: String, message: String) throws {
        try Self.withImage { registry, dir, image in
            try FaultProxy.with(upstream: registry.host, mode: mode) { proxy in
                let store = dir.appendingPathComponent("store")
                let pull = try Harness.bale(["pull", "\(proxy.host)/app:1"], root: store)
                #expect(!pull.succeeded)
                let errorLines = pull.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }
                #expect(errorLines.count == 1, "\(pull.err)")
                #expect(pull.err.contains("docker://\(proxy.host)/app"), "\(pull.err)")
                #expect(pull.err.contains(message), "\(pull.err)")
                if mode != "manifest" && mode != "unauthorized" { #expect(pull.err.contains(image.layerDigests[0]), "\(pull.err)") }
                if mode == "corrupt" { #expect(pull.status == 3) }
                let images = try Harness.bale(["images", "-q"], root: store)
                #expect(images.out.isEmpty, "\(images)")
                let blobs = (try? FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("blobs/sha256").path)) ?? []
                #expect(blobs.isEmpty, "\(blobs)")
            }
        }
    }
}

/// A registry on TLS with its own CA, on 127.0.0.1: loopback allows plain HTTP, but a server that
/// speaks TLS with an untrusted certificate is refused, never downgraded.
@Suite struct RegistryTLSTests {
    @Test func untrustedIsRefusedTrustedByCertsDirOrInsecure() throws {
        try Harness.withTemporaryDirectory { dir in
            let openssl = try Harness.requirePeer("openssl")
            let p = { (name: String) in dir.appendingPathComponent(name).path }
            try "subjectAltName=IP:127.0.0.1\n".write(toFile: p("ext.cnf"), atomically: true, encoding: .utf8)
            for arguments in [
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "2", "-subj", "/CN=bale test CA"],
                ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=127.0.0.1"],
                ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial",
                 "-out", p("server.crt"), "-days", "2", "-extfile", p("ext.cnf")],
            ] {
                let r = try Harness.run(openssl, arguments)
                guard r.succeeded else { throw HarnessError("openssl: \(r)") }
            }
            let layout = try Harness.makeLayout(in: dir, images: ["app:1"])
            var options = Registry.Options()
            options.tls = (p("server.crt"), p("server.key"))
            try Registry.with(options) { registry in
                let store = dir.appendingPathComponent("store")
                let empty = dir.appendingPathComponent("no-certs")
                let target = "docker://\(registry.host)/app:1"
                let refused = try Harness.bale(["copy", "--certs-dir", empty.path, "oci:\(layout.path):app:1", target], root: store)
                #expect(!refused.succeeded)
                #expect(refused.err.contains("docker://\(registry.host)") && refused.err.contains("not trusted"), "\(refused)")
                #expect(registry.requests("PUT", "/manifests/").isEmpty)

                let certs = dir.appendingPathComponent("certs.d/\(registry.host)")
                try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: p("ca.crt"), toPath: certs.appendingPathComponent("ca.crt").path)
                let trusted = try Harness.bale(["copy", "--certs-dir", dir.appendingPathComponent("certs.d").path,
                                                "oci:\(layout.path):app:1", target], root: store)
                #expect(trusted.succeeded, "\(trusted)")

                let insecure = try Harness.bale(["pull", "--insecure", "--certs-dir", empty.path, "\(registry.host)/app:1"], root: store)
                #expect(insecure.succeeded, "\(insecure)")
            }
        }
    }
}
