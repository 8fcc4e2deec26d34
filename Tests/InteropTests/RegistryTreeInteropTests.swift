import Foundation
import Testing
import TestSupport

/// `registry-tree:` against the real Distribution registry (docker-registry 2.8 on 127.0.0.1): a tree
/// bale writes is served to skopeo and docker; a tree the registry wrote is read back by bale; bale
/// writing into a tree the registry serves does not disturb its clients; a damaged tree fails clearly.
@Suite(.serialized) struct RegistryTreeInteropTests {
    /// The generated images: two images on one base layer (app:1, tool:2), two platforms of one
    /// image joined in an index (multi:1), in an OCI layout and a seeded store, and their digests.
    struct Fixture {
        let directory: URL
        let layout: URL
        let store: URL
        /// Per `NAME:TAG` in the store: the top digest (manifest or index) and the image ID.
        let images: [String: (digest: String, id: String)]
    }

    static func withFixture<T>(_ body: (Fixture) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let layout = try Harness.makeLayout(in: directory, images: [
                "base:1=layers=1", "app:1=base=base:1,layers=1", "tool:2=base=base:1,layers=1",
                "amd:1=arch=amd64,layers=1", "arm:1=arch=arm64,layers=1",
            ])
            // An OCI index of amd:1 and arm:1 with their platforms, named multi:1 in the layout.
            let script = """
            import hashlib, json, os, sys
            d = sys.argv[1]
            idx = json.load(open(os.path.join(d, "index.json")))
            by = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
            children = []
            for ref, arch in (("amd:1", "amd64"), ("arm:1", "arm64")):
                m = dict(by[ref]); m.pop("annotations")
                m["platform"] = {"architecture": arch, "os": "linux"}
                children.append(m)
            body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                               "manifests": children}, sort_keys=True, separators=(",", ":")).encode()
            h = hashlib.sha256(body).hexdigest()
            open(os.path.join(d, "blobs", "sha256", h), "wb").write(body)
            idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + h,
                                     "size": len(body), "annotations": {"org.opencontainers.image.ref.name": "multi:1"}})
            json.dump(idx, open(os.path.join(d, "index.json"), "w"))
            """
            let made = try Harness.peer("python3", ["-c", script, layout.path])
            guard made.succeeded else { throw HarnessError("index: \(made)") }
            let store = directory.appendingPathComponent("store")
            for name in ["app:1", "tool:2"] {
                try mustBale(["copy", "oci:\(layout.path):\(name)", name], root: store)
            }
            try mustBale(["copy", "--all-platforms", "oci:\(layout.path):multi:1", "multi:1"], root: store)
            // A Docker-typed image too (what `docker save` and most registries carry).
            let dockerTyped = try Harness.makeLayout(in: directory, named: "docker-typed", images: ["dock:1=layers=1"],
                                                     options: ["--docker-types"])
            try mustBale(["copy", "oci:\(dockerTyped.path):dock:1", "dock:1"], root: store)
            return try body(Fixture(directory: directory, layout: layout, store: store, images: try storeImages(store)))
        }
    }

    @discardableResult
    static func mustBale(_ arguments: [String], root: URL? = nil) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        guard r.succeeded else { throw HarnessError("bale failed: \(r)") }
        return r
    }

    /// `bale images` of a store: per `REPOSITORY:TAG`, the digest and the full image ID.
    static func storeImages(_ store: URL) throws -> [String: (digest: String, id: String)] {
        let r = try mustBale(["images", "--no-trunc", "--format", "json"], root: store)
        var images: [String: (digest: String, id: String)] = [:]
        for line in r.lines {
            let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String] ?? [:]
            images["\(row["Repository"] ?? ""):\(row["Tag"] ?? "")"] = (row["Digest"] ?? "", row["ID"] ?? "")
        }
        return images
    }

    static func sha256(_ data: Data) throws -> String {
        let r = try Harness.peer("sha256sum", [], stdin: data)
        return "sha256:" + (r.out.split(separator: " ").first.map(String.init) ?? "")
    }

    /// The digest of the manifest the registry serves for `reference` (`library/app:1`,
    /// `library/app@sha256:…`), from skopeo's raw bytes.
    static func servedDigest(_ registry: Registry, _ reference: String) throws -> String {
        try servedDigest(host: registry.host, reference)
    }

    static func servedDigest(host: String, _ reference: String) throws -> String {
        let r = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(host)/\(reference)"])
        guard r.succeeded else { throw HarnessError("skopeo inspect \(reference): \(r)") }
        return try sha256(r.stdout)
    }

    // MARK: 1. bale writes, the registry serves

    @Test func aTreeBaleWroteIsServedToSkopeoAndDocker() throws {
        try Self.withFixture { f in
            let tree = f.directory.appendingPathComponent("tree")
            // From the store without a name (library/app, library/multi), from an archive with one.
            try Self.mustBale(["copy", "app:1", "registry-tree:\(tree.path)"], root: f.store)
            try Self.mustBale(["copy", "multi:1", "registry-tree:\(tree.path)"], root: f.store)
            try Self.mustBale(["copy", "dock:1", "registry-tree:\(tree.path)"], root: f.store)
            let archive = f.directory.appendingPathComponent("tool.tar")
            try Self.mustBale(["save", "-o", archive.path, "tool:2"], root: f.store)
            try Self.mustBale(["copy", "docker-archive:\(archive.path)", "registry-tree:\(tree.path):team/tool:2"])
            var options = Registry.Options()
            options.root = tree.path
            options.readOnly = true
            try Registry.with(options) { registry in
                let served = [("library/app:1", "app:1"), ("library/multi:1", "multi:1"), ("team/tool:2", "tool:2"),
                              ("library/dock:1", "dock:1")]
                for (reference, name) in served {
                    let digest = try #require(f.images[name]).digest
                    #expect(try Self.servedDigest(registry, reference) == digest, "\(reference)")
                    let repository = String(reference.prefix { $0 != ":" })
                    #expect(try Self.servedDigest(registry, "\(repository)@\(digest)") == digest, "\(reference) by digest")
                    // A full copy fetches and checks every blob the manifest names.
                    let out = f.directory.appendingPathComponent("copy-\(name)")
                    let copy = try Harness.peer("skopeo", ["copy", "--all", "--src-tls-verify=false",
                                                           "docker://\(registry.host)/\(reference)", "oci:\(out.path):x"])
                    #expect(copy.succeeded, "\(copy)")
                }
                let catalog = try Harness.peer("curl", ["-s", "http://\(registry.host)/v2/_catalog"])
                #expect(catalog.out.contains(#"["library/app","library/dock","library/multi","team/tool"]"#), "\(catalog)")
                try DockerDaemon.with { docker in
                    for (reference, name) in served {
                        try docker.must(["pull", "\(registry.host)/\(reference)"])
                        let id = try docker.must(["image", "inspect", "--format", "{{.Id}}", "\(registry.host)/\(reference)"])
                        #expect(id.out.trimmingCharacters(in: .whitespacesAndNewlines) == f.images[name]?.id, "\(reference)")
                    }
                    let digest = try #require(f.images["app:1"]).digest
                    try docker.must(["pull", "\(registry.host)/library/app@\(digest)"])
                }
            }
        }
    }

    // MARK: 2. the registry writes, bale reads

    @Test func aTreeTheRegistryWroteIsReadBack() throws {
        try Self.withFixture { f in
            let root = f.directory.appendingPathComponent("registry-root")
            var options = Registry.Options()
            options.root = root.path
            var pushed: [String: String] = [:]
            try Registry.with(options) { registry in
                for (name, reference) in [("app:1", "app:1"), ("tool:2", "team/tool:2")] {
                    let r = try Harness.peer("skopeo", ["copy", "--dest-tls-verify=false", "oci:\(f.layout.path):\(name)",
                                                        "docker://\(registry.host)/\(reference)"])
                    guard r.succeeded else { throw HarnessError("skopeo push: \(r)") }
                    pushed[reference] = try Self.servedDigest(registry, reference)
                }
            }
            // One image by name, into a fresh store: same manifest digest, same ID, the pull's name.
            let one = f.directory.appendingPathComponent("one")
            try Self.mustBale(["copy", "registry-tree:\(root.path):team/tool:2", "store:"], root: one)
            let oneImages = try Self.storeImages(one)
            #expect(oneImages["team/tool:2"]?.digest == pushed["team/tool:2"])
            #expect(oneImages["team/tool:2"]?.id == f.images["tool:2"]?.id)
            // Every repository and tag.
            let all = f.directory.appendingPathComponent("all")
            try Self.mustBale(["copy", "registry-tree:\(root.path)", "store:"], root: all)
            let allImages = try Self.storeImages(all)
            #expect(Set(allImages.keys) == ["app:1", "team/tool:2"])
            #expect(allImages["app:1"]?.digest == pushed["app:1"] && allImages["app:1"]?.id == f.images["app:1"]?.id)
            #expect(allImages["team/tool:2"]?.id == f.images["tool:2"]?.id)
            // bale writing the same images makes the same files, link bytes included.
            let baleTree = f.directory.appendingPathComponent("bale-tree")
            try Self.mustBale(["copy", "app:1", "registry-tree:\(baleTree.path):app:1"], root: f.store)
            try Self.mustBale(["copy", "tool:2", "registry-tree:\(baleTree.path):team/tool:2"], root: f.store)
            #expect(try Self.listing(baleTree) == Self.listing(root))
        }
    }

    // MARK: 3. writing into a served tree

    @Test func writingIntoAServedTreeDoesNotDisturbItsClients() throws {
        try Self.withFixture { f in
            let tree = f.directory.appendingPathComponent("tree")
            try Self.mustBale(["copy", "app:1", "registry-tree:\(tree.path)"], root: f.store)
            let appDigest = try #require(f.images["app:1"]).digest
            var options = Registry.Options()
            options.root = tree.path
            options.readOnly = true
            // As Debian configures it: descriptors cached in memory (new links must still be seen).
            options.descriptorCache = true
            try Registry.with(options) { registry in
                let done = DispatchSemaphore(value: 0)
                let state = ReaderState()
                let host = registry.host
                Thread {
                    defer { done.signal() }
                    while !state.stopped {
                        // A read of the existing tag, and of every tag the tags list names.
                        let digest = (try? Self.servedDigest(host: host, "library/app:1")) ?? "failed"
                        state.record(digest == appDigest ? nil : "library/app:1 gave \(digest)")
                        let list = (try? Harness.peer("curl", ["-s", "http://\(host)/v2/team/tool/tags/list"]))?.out ?? ""
                        let tags = (try? JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any])?["tags"] as? [String] ?? []
                        for tag in tags {
                            let r = try? Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(host)/team/tool:\(tag)"])
                            state.record(r?.succeeded == true ? nil : "team/tool:\(tag) listed but not served: \(r.map { "\($0)" } ?? "")")
                        }
                    }
                }.start()
                // New tags and a moving one while the reader runs, until it has read a good deal.
                var n = 0
                var last = ""
                while n < 6 || (state.reads < 60 && n < 40) {
                    let image = n % 2 == 0 ? "tool:2" : "multi:1"
                    try Self.mustBale(["copy", image, "registry-tree:\(tree.path):team/tool:\(n)"], root: f.store)
                    try Self.mustBale(["copy", image, "registry-tree:\(tree.path):team/tool:moving"], root: f.store)
                    n += 1
                    last = image
                }
                state.stop()
                done.wait()
                #expect(state.failures.isEmpty, "\(state.failures.prefix(3))")
                #expect(state.reads >= 60, "\(state.reads) reads during \(n) rounds of writes")
                #expect(try Self.servedDigest(registry, "team/tool:4") == f.images["tool:2"]?.digest)
                #expect(try Self.servedDigest(registry, "team/tool:5") == f.images["multi:1"]?.digest)
                #expect(try Self.servedDigest(registry, "team/tool:moving") == f.images[last]?.digest)
            }
        }
    }

    /// What the reader thread saw.
    final class ReaderState: @unchecked Sendable {
        // Sendable: every field is guarded by `lock`.
        private let lock = NSLock()
        private var _failures: [String] = []
        private var _reads = 0
        private var _stopped = false
        var failures: [String] { lock.withLock { _failures } }
        var reads: Int { lock.withLock { _reads } }
        var stopped: Bool { lock.withLock { _stopped } }
        func stop() { lock.withLock { _stopped = true } }
        func record(_ failure: String?) {
            lock.withLock {
                _reads += 1
                if let failure { _failures.append(failure) }
            }
        }
    }

    // MARK: 4. damaged trees

    @Test func aDamagedTreeFailsWithOneLineAndTheStoreUntouched() throws {
        try Self.withFixture { f in
            let tree = f.directory.appendingPathComponent("tree")
            let v2 = tree.appendingPathComponent("docker/registry/v2").path
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: f.layout.appendingPathComponent(
                "blobs/sha256/" + String(try #require(f.images["app:1"]).digest.dropFirst(7))))) as? [String: Any]
            let layers = try #require(manifest?["layers"] as? [[String: Any]])
            let layer = try #require(layers.last?["digest"] as? String)
            let hex = String(layer.dropFirst(7))
            let damages: [(String, () throws -> Void, String)] = [
                ("malformed link", {
                    try Data("sha256:\(hex)\n".utf8).write(to: URL(fileURLWithPath: "\(v2)/repositories/app/_layers/sha256/\(hex)/link"))
                }, layer),
                ("missing data", {
                    try FileManager.default.removeItem(atPath: "\(v2)/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
                }, layer),
                ("dangling tag", {
                    try Data("sha256:\(String(repeating: "0", count: 64))".utf8)
                        .write(to: URL(fileURLWithPath: "\(v2)/repositories/app/_manifests/tags/1/current/link"))
                }, "sha256:" + String(repeating: "0", count: 64)),
            ]
            let target = f.directory.appendingPathComponent("target")
            try Self.mustBale(["copy", "tool:2", "registry-tree:\(tree.path):seed:1"], root: f.store)
            try Self.mustBale(["copy", "registry-tree:\(tree.path):seed:1", "store:"], root: target)
            for (what, damage, digest) in damages {
                try? FileManager.default.removeItem(at: tree)
                try Self.mustBale(["copy", "app:1", "registry-tree:\(tree.path):app:1"], root: f.store)
                try damage()
                let before = try Self.listing(target)
                for source in ["registry-tree:\(tree.path):app:1", "registry-tree:\(tree.path)"] {
                    let r = try Harness.bale(["copy", source, "store:"], root: target)
                    #expect(!r.succeeded && !r.signalled, "\(what): \(r)")
                    #expect(r.errLines.count == 1, "\(what): \(r.err)")
                    #expect(r.err.contains("registry-tree:\(tree.path)") && r.err.contains("repository app")
                            && r.err.contains(digest), "\(what): \(r.err)")
                    #expect(try Self.listing(target) == before, "\(what): the store changed")
                }
            }
        }
    }

    /// Every file of a directory with its bytes.
    static func listing(_ root: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: root.path) ?? .init() {
            var isDirectory: ObjCBool = false
            let full = root.path + "/" + path
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue, !path.hasSuffix(".lock") {
                files[path] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return files
    }
}
