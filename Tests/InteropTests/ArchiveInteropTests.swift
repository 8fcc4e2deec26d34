import Foundation
import Testing

/// save, load and copy against the real peers: a private Docker engine (docker load / docker save) and
/// skopeo (docker-archive:, oci-archive:, oci:). Expected IDs come from the generated layout or from the
/// peer, never from bale.
@Suite(.enabled(if: Harness.peersAvailable("skopeo", "python3", "dockerd", "docker")))
struct ArchiveInteropTests {
    /// app:1 and web:3 share base:1's layer; tool:2 shares nothing.
    static let generated = [
        "base:1=layers=1",
        "app:1=base=base:1,layers=2",
        "web:3=base=base:1,layers=1",
        "localhost:5000/team/tool:2=layers=2",
    ]

    struct Fixture {
        var directory: URL
        var store: URL
        var layout: URL
        /// Config digest (IMAGE ID) of each generated image, by its given name.
        var ids: [String: String]
        var manifests: [String: String]
    }

    /// A store holding app:1, web:3 and localhost:5000/team/tool:2, copied in by bale from a generated
    /// layout (OCI-typed, gzip layers).
    func withStore<T>(_ body: (Fixture) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let layout = try Harness.makeLayout(in: directory, images: Self.generated)
            let store = directory.appendingPathComponent("store")
            var ids: [String: String] = [:]
            var manifests: [String: String] = [:]
            for name in ["app:1", "web:3", "localhost:5000/team/tool:2"] {
                let copy = try Harness.bale(["copy", "oci:\(layout.path):\(name)", name], root: store)
                try #require(copy.succeeded, "\(copy)")
                let image = try LayoutReader.image(name, in: layout)
                ids[name] = image.configDigest
                manifests[name] = image.manifestDigest
            }
            return try body(Fixture(directory: directory, store: store, layout: layout, ids: ids, manifests: manifests))
        }
    }

    /// `name id` lines of `docker images`, for docker's classic store (ID = config digest).
    func dockerImages(_ docker: DockerDaemon) throws -> Set<String> {
        let r = try docker.must(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        return Set(r.lines)
    }

    func baleImages(_ store: URL) throws -> Set<String> {
        let r = try Harness.bale(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], root: store)
        try #require(r.succeeded, "\(r)")
        return Set(r.lines)
    }

    /// Paths of the members of a tar (GNU tar lists them; it is not the code under test).
    func members(_ archive: URL) throws -> [String] {
        let r = try Harness.peer("tar", ["-tf", archive.path])
        try #require(r.succeeded, "\(r)")
        return r.lines
    }

    @Test func dockerLoadsWhatBaleSavesAndBaleLoadsWhatDockerSaves() throws {
        try withStore { f in
            let archive = f.directory.appendingPathComponent("bale.tar")
            let save = try Harness.bale(["save", "-o", archive.path, "app:1", "web:3", "localhost:5000/team/tool:2"], root: f.store)
            try #require(save.succeeded, "\(save)")
            // Shared base layer once in the archive.
            let blobs = try members(archive).filter { $0.hasPrefix("blobs/sha256/") }
            #expect(blobs.count == Set(blobs).count)
            let expected: Set<String> = [
                "app:1 \(f.ids["app:1"]!)", "web:3 \(f.ids["web:3"]!)",
                "localhost:5000/team/tool:2 \(f.ids["localhost:5000/team/tool:2"]!)",
            ]
            try DockerDaemon.with { docker in
                let load = try docker.must(["load", "-i", archive.path])
                #expect(load.out.contains("Loaded image: app:1"))
                #expect(try dockerImages(docker) == expected)

                // And back: docker save (its legacy form) → bale load into a fresh store, same IDs.
                let saved = f.directory.appendingPathComponent("docker.tar")
                try docker.must(["save", "-o", saved.path, "app:1", "web:3", "localhost:5000/team/tool:2"])
                let fresh = f.directory.appendingPathComponent("fresh")
                let bload = try Harness.bale(["load", "-i", saved.path], root: fresh)
                try #require(bload.succeeded, "\(bload)")
                #expect(bload.lines.contains("Loaded image: app:1"))
                #expect(try baleImages(fresh) == expected)
                let verify = try Harness.bale(["verify", "--deep"], root: fresh)
                #expect(verify.succeeded, "\(verify)")

                // What bale loaded from docker goes back into docker unchanged.
                let again = f.directory.appendingPathComponent("again.tar")
                #expect(try Harness.bale(["save", "-o", again.path, "web:3"], root: fresh).succeeded)
                try docker.must(["rmi", "web:3"])
                try docker.must(["load", "-i", again.path])
                #expect(try dockerImages(docker).contains("web:3 \(f.ids["web:3"]!)"))
            }
        }
    }

    @Test(arguments: ["gzip", "xz", "zstd"])
    func compressedArchivesLoadFromFileAndStdin(compression: String) throws {
        try withStore { f in
            let archive = f.directory.appendingPathComponent("bale.tar.\(compression)")
            let save = try Harness.bale(["save", "--compress", compression, "-o", archive.path, "app:1"], root: f.store)
            try #require(save.succeeded, "\(save)")
            let fromFile = f.directory.appendingPathComponent("s1")
            #expect(try Harness.bale(["load", "-i", archive.path], root: fromFile).succeeded)
            let fromStdin = f.directory.appendingPathComponent("s2")
            let piped = try Harness.bale(["load"], root: fromStdin, stdin: try Data(contentsOf: archive))
            #expect(piped.succeeded, "\(piped)")
            for store in [fromFile, fromStdin] {
                #expect(try baleImages(store) == ["app:1 \(f.ids["app:1"]!)"])
            }
            // Debian's docker 20.10 detects gzip, bzip2 and xz archives; zstd only from Docker 23 on.
            guard compression != "zstd" else { return }
            try DockerDaemon.with { docker in
                try docker.must(["load", "-i", archive.path])
                #expect(try dockerImages(docker) == ["app:1 \(f.ids["app:1"]!)"])
            }
        }
    }

    /// A split save (gzip-compressed, cut in three) joined again is an archive docker loads as it is,
    /// with the same IDs: `cat NAME.0* | docker load`.
    @Test func dockerLoadsTheJoinedPartsOfASplitSave() throws {
        try withStore { f in
            let whole = f.directory.appendingPathComponent("whole.tar.gz")
            try #require(try Harness.bale(["save", "--compress", "gzip", "-o", whole.path, "app:1", "web:3"], root: f.store).succeeded)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: whole.path)[.size] as? Int)
            let set = f.directory.appendingPathComponent("set.tar.gz")
            let save = try Harness.bale(["save", "--compress", "gzip", "--split-size", "\(size / 3 + 1)", "-o", set.path, "app:1", "web:3"], root: f.store)
            try #require(save.succeeded, "\(save)")
            var joined = Data()
            for n in 0 ..< 3 { joined += try Data(contentsOf: URL(fileURLWithPath: set.path + ".00\(n)")) }
            #expect(!FileManager.default.fileExists(atPath: set.path + ".003"))
            try DockerDaemon.with { docker in
                let load = try docker.must(["load"], stdin: joined)
                #expect(load.out.contains("Loaded image: app:1"), "\(load)")
                #expect(try dockerImages(docker) == ["app:1 \(f.ids["app:1"]!)", "web:3 \(f.ids["web:3"]!)"])
            }
        }
    }

    @Test func baleLoadsWhatSkopeoWrites() throws {
        try withStore { f in
            for (transport, file) in [("docker-archive", "s.tar"), ("oci-archive", "o.tar")] {
                let archive = f.directory.appendingPathComponent(file)
                let copy = try Harness.peer("skopeo", ["copy", "--quiet", "oci:\(f.layout.path):web:3", "\(transport):\(archive.path):web:3"])
                try #require(copy.succeeded, "\(copy)")
                let store = f.directory.appendingPathComponent("from-\(transport)")
                let load = try Harness.bale(["load", "-i", archive.path], root: store)
                try #require(load.succeeded, "\(load)")
                #expect(try baleImages(store) == ["web:3 \(f.ids["web:3"]!)"], "\(transport)")
            }
        }
    }

    /// skopeo 1.9 writes one image per archive from its CLI; a multi-image archive of skopeo's making is
    /// an OCI layout it filled with several images, tarred; and one image with several tags comes from
    /// `--additional-tag`.
    @Test func baleLoadsMultiImageAndMultiTagArchivesOfSkopeosMaking() throws {
        try withStore { f in
            let dir = f.directory.appendingPathComponent("skopeo-multi")
            for name in ["app:1", "web:3"] {
                let copy = try Harness.peer("skopeo", ["copy", "--quiet", "oci:\(f.layout.path):\(name)", "oci:\(dir.path):\(name)"])
                try #require(copy.succeeded, "\(copy)")
            }
            let multi = f.directory.appendingPathComponent("multi.tar")
            #expect(try Harness.peer("tar", ["-C", dir.path, "-cf", multi.path, "."]).succeeded)
            let store = f.directory.appendingPathComponent("multi-store")
            let load = try Harness.bale(["load", "-i", multi.path], root: store)
            try #require(load.succeeded, "\(load)")
            #expect(try baleImages(store) == ["app:1 \(f.ids["app:1"]!)", "web:3 \(f.ids["web:3"]!)"])

            let tagged = f.directory.appendingPathComponent("tags.tar")
            let copy = try Harness.peer("skopeo", ["copy", "--quiet", "--additional-tag", "web:latest",
                                                   "oci:\(f.layout.path):web:3", "docker-archive:\(tagged.path):web:3"])
            try #require(copy.succeeded, "\(copy)")
            let tagStore = f.directory.appendingPathComponent("tag-store")
            let tagLoad = try Harness.bale(["load", "-i", tagged.path], root: tagStore)
            try #require(tagLoad.succeeded, "\(tagLoad)")
            #expect(try baleImages(tagStore) == ["web:3 \(f.ids["web:3"]!)", "web:latest \(f.ids["web:3"]!)"])
        }
    }

    @Test func skopeoReadsWhatBaleWritesAndDigestsSurvive() throws {
        try withStore { f in
            // docker-archive: skopeo inspects and copies out; the config digest survives.
            let archive = f.directory.appendingPathComponent("bale.tar")
            #expect(try Harness.bale(["save", "-o", archive.path, "app:1", "web:3"], root: f.store).succeeded)
            for name in ["app:1", "web:3"] {
                let inspect = try Harness.peer("skopeo", ["inspect", "--raw", "docker-archive:\(archive.path):\(name)"])
                try #require(inspect.succeeded, "\(inspect)")
                #expect(inspect.out.contains(f.ids[name]!))
                let out = f.directory.appendingPathComponent("out-\(name.replacingOccurrences(of: ":", with: "-"))")
                let copy = try Harness.peer("skopeo", ["copy", "--quiet", "--preserve-digests", "docker-archive:\(archive.path):\(name)", "oci:\(out.path):x"])
                try #require(copy.succeeded, "\(copy)")
                #expect(try LayoutReader.image("x", in: out).configDigest == f.ids[name])
            }
            // oci-archive: the manifest digest survives too, through skopeo and back into bale.
            let oci = f.directory.appendingPathComponent("bale-oci.tar")
            #expect(try Harness.bale(["save", "--format", "oci", "-o", oci.path, "app:1"], root: f.store).succeeded)
            let out = f.directory.appendingPathComponent("skopeo-oci")
            let copy = try Harness.peer("skopeo", ["copy", "--quiet", "oci-archive:\(oci.path)", "oci:\(out.path):app"])
            try #require(copy.succeeded, "\(copy)")
            let image = try LayoutReader.image("app", in: out)
            #expect(image.manifestDigest == f.manifests["app:1"])
            #expect(image.configDigest == f.ids["app:1"])
            let back = f.directory.appendingPathComponent("back")
            #expect(try Harness.bale(["copy", "oci:\(out.path):app", "app:1"], root: back).succeeded)
            let digests = try Harness.bale(["images", "--digests", "--no-trunc", "--format", "{{.Digest}} {{.ID}}"], root: back)
            #expect(digests.lines == ["\(f.manifests["app:1"]!) \(f.ids["app:1"]!)"])
        }
    }

    @Test func incrementalArchivesLeaveOutWhatEarlierOnesCarry() throws {
        try withStore { f in
            let base = f.directory.appendingPathComponent("base.tar")
            let incr = f.directory.appendingPathComponent("incr.tar")
            #expect(try Harness.bale(["save", "-o", base.path, "app:1"], root: f.store).succeeded)
            let save = try Harness.bale(["save", "--since", base.path, "-o", incr.path, "web:3"], root: f.store)
            try #require(save.succeeded, "\(save)")
            let shared = try LayoutReader.image("base:1", in: f.layout).layerDigests[0]
            let own = try LayoutReader.image("web:3", in: f.layout).layerDigests.last!
            let incrBlobs = try members(incr)
            #expect(!incrBlobs.contains("blobs/sha256/" + shared.dropFirst(7)), "the shared layer is left out")
            #expect(incrBlobs.contains("blobs/sha256/" + own.dropFirst(7)))
            #expect(try members(base).contains("blobs/sha256/" + shared.dropFirst(7)))

            // Into a store without the base: refused before anything is written, naming the digest.
            let empty = f.directory.appendingPathComponent("empty")
            // An empty store, made by a writer (`images` only reads and creates nothing).
            #expect(try Harness.bale(["prune"], root: empty).succeeded)
            let indexBefore = try Data(contentsOf: empty.appendingPathComponent("index.json"))
            let refused = try Harness.bale(["load", "-i", incr.path], root: empty)
            #expect(!refused.succeeded)
            #expect(refused.err.contains(shared) && refused.err.contains("base.tar"), "\(refused)")
            #expect(try Data(contentsOf: empty.appendingPathComponent("index.json")) == indexBefore)
            #expect(try FileManager.default.contentsOfDirectory(atPath: empty.appendingPathComponent("blobs/sha256").path).isEmpty)

            // After the base, the increment loads and both images are whole.
            #expect(try Harness.bale(["load", "-i", base.path], root: empty).succeeded)
            let load = try Harness.bale(["load", "-i", incr.path], root: empty)
            #expect(load.succeeded, "\(load)")
            #expect(try baleImages(empty) == ["app:1 \(f.ids["app:1"]!)", "web:3 \(f.ids["web:3"]!)"])
            #expect(try Harness.bale(["verify", "--deep"], root: empty).succeeded)
        }
    }

    @Test func ociArchivesRoundTripAndPeersReadThem() throws {
        try withStore { f in
            let archive = f.directory.appendingPathComponent("oci.tar")
            #expect(try Harness.bale(["save", "--format", "oci", "-o", archive.path, "app:1", "web:3"], root: f.store).succeeded)
            #expect(try !members(archive).contains("manifest.json"))
            let inspect = try Harness.peer("skopeo", ["inspect", "oci-archive:\(archive.path):1"])
            #expect(inspect.succeeded, "\(inspect)")
            let fresh = f.directory.appendingPathComponent("fresh")
            let load = try Harness.bale(["load", "-i", archive.path], root: fresh)
            #expect(load.succeeded, "\(load)")
            #expect(Set(load.lines) == ["Loaded image: app:1", "Loaded image: web:3"])
            #expect(try baleImages(fresh) == ["app:1 \(f.ids["app:1"]!)", "web:3 \(f.ids["web:3"]!)"])
            // oci-archive:FILE:REF names the single image it holds.
            let named = f.directory.appendingPathComponent("named.tar")
            #expect(try Harness.bale(["copy", "app:1", "oci-archive:\(named.path):v1"], root: f.store).succeeded)
            #expect(try Harness.peer("skopeo", ["inspect", "oci-archive:\(named.path):v1"]).succeeded)
            #expect(try Harness.peer("oci-image-tool", ["validate", "--type", "image", fresh.path]).succeeded)
        }
    }
}
