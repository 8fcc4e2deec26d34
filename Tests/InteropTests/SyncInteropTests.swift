import Foundation
import Testing
import TestSupport

/// `bale sync` against the real `docker-registry` on 127.0.0.1: a skopeo-format YAML (tags, a regex
/// and a semver selection) into an archive and into a registry tree that a second registry then
/// serves to skopeo; `--dry-run` announces what the copy then moves; a second run moves nothing; the
/// text form; `--keep-going` past a missing image; a malformed YAML named by file and line.
@Suite(.serialized) struct SyncInteropTests {
    /// The images pushed to the source registry: one base under all, app in four versions, tool in
    /// three flavours.
    static let pushed = ["base:1", "app:1.0.0", "app:1.1.0", "app:1.2.0", "app:2.0.0",
                         "tool:v1-alpine", "tool:v2-alpine", "tool:v2-debian"]

    static func withSource<T>(_ body: (Registry, URL) throws -> T) throws -> T {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: ["base:1=layers=2"]
                    + pushed.dropFirst().map { "\($0)=base=base:1,layers=1" })
                for name in pushed {
                    try must(["copy", "oci:\(layout.path):\(name)", "docker://\(registry.host)/\(name)"])
                }
                return try body(registry, dir)
            }
        }
    }

    @discardableResult
    static func must(_ arguments: [String], root: URL? = nil) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        guard r.succeeded else { throw HarnessError("bale failed: \(r)") }
        return r
    }

    /// The images a sync's output names (`Would copy`/`Copied`/`Up to date` lines), and its total.
    static func summary(_ r: RunResult) -> (images: [String], moved: [String], total: String) {
        var images: [String] = []
        var moved: [String] = []
        for line in r.lines {
            for verb in ["Would copy ", "Copied ", "Up to date: "] where line.hasPrefix(verb) && line.contains(" -> ") {
                let image = String(line.dropFirst(verb.count).prefix { $0 != " " })
                images.append(image)
                if verb != "Up to date: " { moved.append(image) }
            }
        }
        let total = r.lines.last { $0.contains("image(s),") } ?? ""
        return (images, moved, String(total.drop { $0 != "," }))
    }

    static func yaml(_ host: String) -> String {
        """
        \(host):
          tls-verify: false
          images:
            base: ["1"]
          images-by-tag-regex:
            tool: -alpine$
          images-by-semver:
            app: ">= 1.1, < 2"
        """
    }

    @Test func aYAMLListIntoAnArchiveAndARegistryTreeDryRunMatchesAndASecondRunMovesNothing() throws {
        try Self.withSource { registry, dir in
            let list = dir.appendingPathComponent("sync.yml")
            try Self.yaml(registry.host).write(to: list, atomically: true, encoding: .utf8)
            let expected = ["base:1", "tool:v1-alpine", "tool:v2-alpine", "app:1.1.0", "app:1.2.0"]
                .map { "\(registry.host)/\($0)" }

            // Into an archive: the dry run writes nothing and names what the copy then moves.
            let archive = dir.appendingPathComponent("all.tar")
            let dry = try Self.must(["sync", "--dry-run", list.path, "docker-archive:\(archive.path)"])
            #expect(!FileManager.default.fileExists(atPath: archive.path))
            let copied = try Self.must(["sync", list.path, "docker-archive:\(archive.path)"])
            #expect(Self.summary(dry).images == expected, "\(dry)")
            #expect(Self.summary(copied).images == expected, "\(copied)")
            #expect(Self.summary(dry).total == Self.summary(copied).total, "\(dry)\n\(copied)")
            #expect(!Self.summary(copied).total.hasPrefix(", 0 bytes"), "\(copied)")
            let store = dir.appendingPathComponent("store")
            let load = try Self.must(["load", "-i", archive.path], root: store)
            #expect(load.lines.count == 5, "\(load)")

            // Into a registry tree, served by a second registry to skopeo.
            let tree = dir.appendingPathComponent("tree")
            let dryTree = try Self.must(["sync", "--dry-run", list.path, "registry-tree:\(tree.path)"])
            let intoTree = try Self.must(["sync", list.path, "registry-tree:\(tree.path)"])
            #expect(Self.summary(dryTree).moved == expected, "\(dryTree)")
            #expect(Self.summary(intoTree).moved == expected, "\(intoTree)")
            #expect(Self.summary(dryTree).total == Self.summary(intoTree).total, "\(dryTree)\n\(intoTree)")
            let again = try Self.must(["sync", list.path, "registry-tree:\(tree.path)"])
            #expect(Self.summary(again).moved.isEmpty, "\(again)")
            #expect(Self.summary(again).images == expected, "\(again)")
            #expect(Self.summary(again).total.hasPrefix(", 0 bytes"), "\(again)")
            var options = Registry.Options()
            options.root = tree.path
            options.readOnly = true
            try Registry.with(options) { served in
                let source = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/tool:v2-alpine"])
                let copy = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(served.host)/tool:v2-alpine"])
                #expect(copy.succeeded, "\(copy)")
                #expect(copy.stdout == source.stdout)
                let missing = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(served.host)/tool:v2-debian"])
                #expect(!missing.succeeded)
            }
        }
    }

    @Test func theTextFormWithKeepGoingCopiesTheRestAndNamesTheMissingImage() throws {
        try Self.withSource { registry, dir in
            let list = dir.appendingPathComponent("images.txt")
            try """
                # what the site needs
                \(registry.host)/app:2.0.0
                \(registry.host)/app:9.9.9

                \(registry.host)/tool:v2-debian   # the debian flavour
                """.write(to: list, atomically: true, encoding: .utf8)
            let layout = dir.appendingPathComponent("layout")
            let stopped = try Harness.bale(["sync", list.path, "oci:\(layout.path)"])
            #expect(!stopped.succeeded)
            #expect(stopped.err.contains("app:9.9.9"), "\(stopped)")
            let r = try Harness.bale(["sync", "--keep-going", list.path, "oci:\(layout.path)"])
            #expect(!r.succeeded, "\(r)")
            #expect(Self.summary(r).moved == ["\(registry.host)/tool:v2-debian"] || Self.summary(r).images.count == 2, "\(r)")
            #expect(r.err.contains("Failed: \(registry.host)/app:9.9.9"), "\(r)")
            let index = try String(contentsOf: layout.appendingPathComponent("index.json"), encoding: .utf8)
            // A layout names an entry by its tag (org.opencontainers.image.ref.name), as copy writes it.
            #expect(index.contains("\"2.0.0\"") && index.contains("\"v2-debian\"") && !index.contains("9.9.9"), "\(index)")
            // skopeo reads what the layout holds.
            let inspect = try Harness.peer("skopeo", ["inspect", "oci:\(layout.path):v2-debian"])
            #expect(inspect.succeeded, "\(inspect)")
        }
    }

    @Test func aMalformedYAMLIsNamedByFileAndLine() throws {
        try Harness.withTemporaryDirectory { dir in
            let list = dir.appendingPathComponent("bad.yml")
            try "127.0.0.1:1:\n  images:\n    app: [\"1\"\n  tls-verify: false\n".write(to: list, atomically: true, encoding: .utf8)
            let r = try Harness.bale(["sync", list.path, "oci:\(dir.path)/out"])
            #expect(!r.succeeded)
            #expect(r.err.contains("\(list.path):4:"), "\(r)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/out"))
        }
    }

    // MARK: Side by side

    /// A source registry holding these generated images (mkimage.py specs), behind a proxy that holds
    /// each layer GET for half a second and logs how many were in flight.
    static func withSlowSource<T>(_ images: [String], _ body: (FaultProxy, URL) throws -> T) throws -> T {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let layout = try Harness.makeLayout(in: dir, images: images)
                for spec in images {
                    let name = String(spec.prefix { $0 != "=" })
                    try must(["copy", "oci:\(layout.path):\(name)", "docker://\(registry.host)/\(name)"])
                }
                return try FaultProxy.with(upstream: registry.host, mode: "slow") { proxy in try body(proxy, dir) }
            }
        }
    }

    /// The most layer GETs the proxy saw in flight at once.
    static func peak(_ proxy: FaultProxy) -> Int {
        proxy.requests.compactMap { line in line.split(separator: " ").last.flatMap { Int($0.dropFirst("inflight=".count)) } }
            .max() ?? 0
    }

    @Test func imagesMoveSideBySideWithinJobsAndTheLinesKeepTheListOrder() throws {
        let images = ["one:1", "two:1", "three:1", "four:1"]
        try Self.withSlowSource(images.map { "\($0)=layers=1,size=200000" }) { proxy, dir in
            let list = dir.appendingPathComponent("images.txt")
            try images.map { "\(proxy.host)/\($0)" }.joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
            let layout = dir.appendingPathComponent("layout")
            let dry = try Self.must(["sync", "--jobs", "3", "--dry-run", list.path, "oci:\(layout.path)"])
            let r = try Self.must(["sync", "--jobs", "3", list.path, "oci:\(layout.path)"])
            // One layer each: a copy one image after another never has two layers in flight.
            #expect(Self.peak(proxy) >= 2, "\(proxy.requests)")
            #expect(Self.peak(proxy) <= 3, "\(proxy.requests)")
            #expect(Self.summary(r).moved == images.map { "\(proxy.host)/\($0)" }, "\(r)")
            #expect(r.lines.filter { $0.hasPrefix("Copied ") } == dry.lines.filter { $0.hasPrefix("Would copy ") }
                .map { "Copied " + $0.dropFirst("Would copy ".count) }, "\(dry)\n\(r)")
            #expect(Self.summary(dry).total == Self.summary(r).total, "\(dry)\n\(r)")
            // Commits one at a time: no image's index.json entry lost to another's; every blob whole.
            func json(_ path: String) throws -> [String: Any] {
                try JSONSerialization.jsonObject(with: Data(contentsOf: layout.appendingPathComponent(path))) as? [String: Any] ?? [:]
            }
            let entries = try json("index.json")["manifests"] as? [[String: Any]] ?? []
            #expect(entries.count == images.count, "\(entries)")
            for entry in entries {
                let manifest = try json("blobs/sha256/" + String((entry["digest"] as? String ?? "").dropFirst(7)))
                let layers = manifest["layers"] as? [[String: Any]] ?? []
                let files = layers.map { "blobs/sha256/" + String(($0["digest"] as? String ?? "").dropFirst(7)) }
                let sums = try Harness.peer("sha256sum", files.map { layout.appendingPathComponent($0).path })
                #expect(layers.count == 1 && sums.succeeded, "\(manifest) \(sums)")
                for line in sums.lines {
                    let parts = line.split(separator: " ")
                    #expect(parts.count == 2 && parts[1].hasSuffix(parts[0]), "\(line)")
                }
            }
        }
    }

    @Test func twoImagesNeedingOneBaseAtOnceFetchItOnceAndTheStoreHoldsBoth() throws {
        let images = ["solo:1=layers=1,size=200000", "base:1=layers=2,size=200000",
                      "app:1=base=base:1,layers=1,size=200000", "app:2=base=base:1,layers=1,size=200000"]
        try Self.withSlowSource(images) { proxy, dir in
            // solo goes first, alone (nothing is in yet); then both apps at once, each lacking the base.
            let list = dir.appendingPathComponent("images.txt")
            try ["solo:1", "app:1", "app:2"].map { "\(proxy.host)/\($0)" }.joined(separator: "\n")
                .write(to: list, atomically: true, encoding: .utf8)
            let store = dir.appendingPathComponent("store")
            let dry = try Self.must(["sync", "--jobs", "4", "--dry-run", list.path, "store:"], root: store)
            let r = try Self.must(["sync", "--jobs", "4", list.path, "store:"], root: store)
            let layerGets = proxy.requests.filter { $0.contains("inflight=") }.map { $0.split(separator: " ")[1] }
            // 1 (solo) + 2 (base) + 1 + 1 (apps): each once.
            #expect(layerGets.count == 5 && Set(layerGets).count == 5, "\(proxy.requests)")
            #expect(Self.peak(proxy) >= 2, "\(proxy.requests)")
            #expect(Self.summary(dry).total == Self.summary(r).total, "\(dry)\n\(r)")
            let verify = try Harness.bale(["verify"], root: store)
            #expect(verify.succeeded, "\(verify)")
            let listed = try Self.must(["images"], root: store)
            #expect(listed.lines.filter { $0.contains("/app ") || $0.contains("/solo ") }.count == 3, "\(listed)")
        }
    }
}
