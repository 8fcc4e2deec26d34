import Foundation
import Testing

/// `docker-root:`: the data root of a stopped engine read offline. Images loaded into the private
/// dockerd (generated multi-layer ones sharing a base, one from `docker import`, one with whiteouts and
/// hard links) copy from its data root with the engine's image IDs, every DiffID checked, and the same
/// manifests as `docker save | bale load`; the data root is unchanged, byte for byte. Damage (a missing
/// layer directory, a broken tar-split, a file changed after the fact) is named with image and layer.
@Suite(.enabled(if: Harness.peersAvailable("dockerd", "docker", "python3", "tar", "sh")))
struct DockerRootInteropTests {
    func sh(_ script: String) throws -> RunResult {
        let r = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        try #require(r.succeeded, "\(r)")
        return r
    }

    /// Every file and directory of a tree: path, type, mode, size, mtime, and each file's SHA-256.
    func treeHash(_ dir: String) throws -> [String] {
        try sh("""
            cd '\(dir)' && find . -printf '%p %y %m %s %T@ %l\\n' | sort && \
            find . -type f -print0 | sort -z | xargs -0 -r sha256sum
            """).lines
    }

    func bale(_ arguments: [String], _ root: URL) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        try #require(r.succeeded, "\(r)")
        return r
    }

    /// `NAME:TAG ID DIGEST` lines of a store.
    func listing(_ root: URL) throws -> [String] {
        try bale(["images", "-a", "--no-trunc", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}"], root).lines.sorted()
    }

    /// Loads the test images (`EngineImages`) into a fresh engine whose data root is `data`; returns the
    /// engine's `NAME:TAG ID` lines, and leaves `docker save` of them all in `saved`.
    func populate(_ d: URL, data: String, driver: String, saved: URL) throws -> [String] {
        let files = try EngineImages.make(in: d)
        return try DockerDaemon.with(dataRoot: data, storageDriver: driver) { docker in
            let info = try docker.must(["info", "--format", "{{.Driver}}"]).out
            try #require(info.trimmingCharacters(in: .whitespacesAndNewlines) == driver)
            let listed = try EngineImages.load(files, into: docker)
            try docker.must(["save", "-o", saved.path] + EngineImages.names)
            return listed
        }
    }

    /// overlay2 keeps whiteouts as character devices and only a layer's own files in its directory; vfs
    /// keeps `.wh.` files and whole trees. Both rebuild the same tars.
    @Test(arguments: ["vfs", "overlay2"])
    func copiesTheEnginesImagesAndLeavesTheDataRootAlone(driver: String) throws {
        try Harness.withTemporaryDirectory { d in
            let data = d.appendingPathComponent("data").path
            let saved = d.appendingPathComponent("docker-save.tar")
            let engine = try populate(d, data: data, driver: driver, saved: saved)
            #expect(engine.count == 5)
            let before = try treeHash(data)

            // Everything: the engine's names and IDs, and the manifests `docker save | bale load` gives.
            let all = d.appendingPathComponent("all")
            _ = try bale(["copy", "docker-root:\(data)", "store:"], all)
            let fromSave = d.appendingPathComponent("from-save")
            _ = try bale(["load", "-i", saved.path], fromSave)
            let listed = try listing(all)
            #expect(listed == (try listing(fromSave)))
            #expect(listed.map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == engine)
            _ = try bale(["verify", "--deep"], all)

            // One by name, one by ID prefix.
            let id = try #require(engine.first { $0.hasPrefix("edit/top:1 ") }?.split(separator: " ").last)
            let byName = d.appendingPathComponent("by-name")
            _ = try bale(["copy", "docker-root:\(data):edit/top:1", "store:"], byName)
            let byID = d.appendingPathComponent("by-id")
            _ = try bale(["copy", "docker-root:\(data):\(id.dropFirst(7).prefix(12))", "store:"], byID)
            let top = listed.filter { $0.hasPrefix("docker.io/edit/top:1 ") || $0.hasPrefix("edit/top:1 ") }
            #expect(top.count == 1)
            #expect(try listing(byName) == top)
            #expect(try listing(byID) == top)

            // Into a docker-archive: the engine loads it back with the same IDs.
            let archive = d.appendingPathComponent("out.tar")
            _ = try bale(["copy", "docker-root:\(data)", "docker-archive:\(archive.path)"], all)

            #expect(try treeHash(data) == before, "the data root changed")

            let refused = try Harness.bale(["copy", "gen/a:1", "docker-root:\(data)"], root: all)
            #expect(!refused.succeeded)
            #expect(refused.err.contains("docker-root: is read-only; use docker-daemon: or docker load"))

            try DockerDaemon.with { docker in
                try docker.must(["load", "-i", archive.path])
                let again = try docker.must(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).lines.sorted()
                #expect(again == engine)
            }
        }
    }

    @Test func damageIsNamedWithTheImageAndTheLayer() throws {
        try Harness.withTemporaryDirectory { d in
            let data = d.appendingPathComponent("data").path
            let layout = try Harness.makeLayout(in: d, images: ["hurt:1=layers=1,files=2", "fine:1=layers=1"])
            let seed = d.appendingPathComponent("seed")
            _ = try bale(["copy", "oci:\(layout.path):hurt:1", "hurt:1"], seed)
            _ = try bale(["copy", "oci:\(layout.path):fine:1", "fine:1"], seed)
            let archive = d.appendingPathComponent("images.tar")
            _ = try bale(["save", "-o", archive.path, "hurt:1", "fine:1"], seed)
            // One layer: its chain ID is its DiffID.
            let diffID = try DockerDaemon.with(dataRoot: data) { docker in
                try docker.must(["load", "-i", archive.path])
                return try docker.must(["inspect", "--format", "{{index .RootFS.Layers 0}}", "hurt:1"]).out
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let layerdb = "image/vfs/layerdb/sha256/\(diffID.dropFirst(7))"
            let faults: [(String, String, String)] = [
                ("missing", "rm -rf vfs/dir/$(cat \(layerdb)/cache-id)", "files are missing"),
                ("tar-split", "printf 'not gzip' > \(layerdb)/tar-split.json.gz", "damaged tar-split"),
                ("changed", "f=$(find vfs/dir/$(cat \(layerdb)/cache-id) -type f -name 'f0*' | head -1) && printf 'Z' | dd of=\"$f\" bs=1 seek=3 conv=notrunc 2>/dev/null",
                 "changed after the layer was made (its CRC-64 differs"),
                ("shorter", "f=$(find vfs/dir/$(cat \(layerdb)/cache-id) -type f -name 'f1*' | head -1) && truncate -s 10 \"$f\"",
                 "bytes on disk"),
            ]
            for (label, damage, why) in faults {
                let copy = d.appendingPathComponent("root-\(label)").path
                _ = try sh("cp -a '\(data)' '\(copy)' && cd '\(copy)' && \(damage)")
                let store = d.appendingPathComponent("store-\(label)")
                let r = try Harness.bale(["copy", "docker-root:\(copy)", "store:"], root: store)
                #expect(!r.succeeded, "\(label)")
                #expect(r.err.contains("hurt:1"), "\(label): \(r.err)")
                #expect(r.err.contains(diffID), "\(label): \(r.err)")
                #expect(r.err.contains(why), "\(label): \(r.err)")
                // The other image was copied by that same command, and only it; one line names the
                // image left out.
                #expect(r.err.split(separator: "\n").filter { $0.contains("hurt:1") }.count == 1, "\(label): \(r.err)")
                let fine = try listing(store)
                #expect(fine.count == 1 && fine.first?.contains("fine:1") == true, "\(label): \(fine)")
                _ = try bale(["verify"], store)
                // Alone, the damaged image fails as a whole, and the store stays as it was.
                let alone = try Harness.bale(["copy", "docker-root:\(copy):hurt:1", "store:"], root: store)
                #expect(!alone.succeeded && alone.err.contains(why), "\(label): \(alone.err)")
                #expect(try listing(store) == fine)
            }
        }
    }
}
