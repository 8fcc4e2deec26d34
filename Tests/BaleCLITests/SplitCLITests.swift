import Foundation
import BaleCore
import BaleIO
import Testing

/// Archives for removable media: `save`/`copy --split-size`, `load` of a part set, `verify --archive`,
/// run as the built binary.
@Suite struct SplitCLITests {
    /// A store at `dir/store` holding `app:1` (one gzip layer of 5 000 000 incompressible bytes: over
    /// the 4 MiB a document may have, so a check keeps no copy of it) and `app:2` (app:1 plus a small
    /// layer), with `dir/whole.tar` the plain save of app:1.
    private func prepare(_ dir: URL) throws -> [String: String?] {
        let env: [String: String?] = ["BALE_ROOT": dir.path + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
        try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        try Data((0 ..< 5_000_000).map { _ in UInt8.random(in: 0 ... 255, using: &generator) })
            .write(to: dir.appendingPathComponent("src/random"))
        try FileManager.default.createDirectory(atPath: dir.path + "/more", withIntermediateDirectories: true)
        try Data("more\n".utf8).write(to: dir.appendingPathComponent("more/file"))
        for command in [["import", dir.path + "/src", "app:1"], ["commit", "--base", "app:1", dir.path + "/more", "app:2"],
                        ["save", "-o", dir.path + "/whole.tar", "app:1"]] {
            let run = try CLIRunner.bale(command, environment: env)
            #expect(run.status == 0, "\(command): \(run)")
        }
        return env
    }

    private func sh(_ script: String, in dir: URL) throws -> BaleRun {
        try CLIRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "cd '\(dir.path)' && " + script])
    }

    private func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    private func ids(_ env: [String: String?]) throws -> [String] {
        try CLIRunner.bale(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], environment: env).lines.sorted()
    }

    /// Every file under the store with its size, and index.json's bytes: what a failed load must not change.
    private func tree(_ root: String) throws -> String {
        try sh("find '\(root)' -path '*/.lock' -prune -o -printf '%P %s\\n' | sort; cat '\(root)/index.json'",
               in: URL(fileURLWithPath: root)).out
    }

    @Test func aThreePartSaveIsTheArchiveCutAndLoadsToTheSameIDs() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env = try prepare(dir)
            let whole = size(dir.path + "/whole.tar")
            let saved = try CLIRunner.bale(["save", "--split-size", "\(whole / 3 + 1)", "-o", dir.path + "/set.tar", "app:1"], environment: env)
            #expect(saved.status == 0, "\(saved)")
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("set.tar") }.sorted()
            #expect(names == ["set.tar.000", "set.tar.001", "set.tar.002", "set.tar.sha256"])
            #expect(size(dir.path + "/set.tar.000") == whole / 3 + 1)
            // The real sha256sum accepts the sum file, and the parts joined are the unsplit archive.
            let summed = try sh("sha256sum -c set.tar.sha256", in: dir)
            #expect(summed.status == 0 && summed.lines.count == 3, "\(summed)")
            #expect(try sh("cat set.tar.0* | cmp - whole.tar", in: dir).status == 0)

            let want = try ids(env).filter { $0.hasPrefix("app:1 ") }
            for (n, name) in ["set.tar.000", "set.tar", "set.tar.sha256"].enumerated() {
                let other: [String: String?] = ["BALE_ROOT": dir.path + "/store\(n)"]
                let loaded = try CLIRunner.bale(["load", "-i", dir.path + "/" + name], environment: other)
                #expect(loaded.status == 0 && loaded.out.contains("Loaded image: app:1"), "\(name): \(loaded)")
                #expect(try ids(other) == want, "\(name)")
            }
            // A plain stream of the parts, and copy from a part set.
            let piped: [String: String?] = ["BALE_ROOT": dir.path + "/piped"]
            let streamed = try CLIRunner.run(URL(fileURLWithPath: "/bin/sh"),
                                             ["-c", "cat '\(dir.path)'/set.tar.0* | '\(try CLIRunner.executable().path)' load"],
                                             environment: piped)
            #expect(streamed.status == 0 && streamed.out.contains("Loaded image: app:1"), "\(streamed)")
            #expect(try ids(piped) == want)
            let copied = try CLIRunner.bale(["copy", "docker-archive:\(dir.path)/set.tar.000", "oci:\(dir.path)/layout"], environment: env)
            #expect(copied.status == 0, "\(copied)")
            // Saved again under the same name in one part: the old set's later parts go, no mix is left.
            #expect(try CLIRunner.bale(["save", "--split-size", "1G", "-o", dir.path + "/set.tar", "app:1"], environment: env).status == 0)
            let again = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("set.tar") }.sorted()
            #expect(again == ["set.tar.000", "set.tar.sha256"])
            #expect(try sh("sha256sum -c --quiet set.tar.sha256 && cmp set.tar.000 whole.tar", in: dir).status == 0)
        }
    }

    @Test func copyAndCompressedSavesSplitTheStreamAsWritten() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env = try prepare(dir)
            let plain = try CLIRunner.bale(["save", "--compress", "gzip", "-o", dir.path + "/z.tar.gz", "app:2"], environment: env)
            #expect(plain.status == 0, "\(plain)")
            let split = try CLIRunner.bale(["save", "--compress", "gzip", "--split-size", "1M", "-o", dir.path + "/zs.tar.gz", "app:2"], environment: env)
            #expect(split.status == 0, "\(split)")
            #expect(try sh("cat zs.tar.gz.0* | cmp - z.tar.gz && sha256sum -c --quiet zs.tar.gz.sha256", in: dir).status == 0)
            #expect(size(dir.path + "/zs.tar.gz.000") == 1 << 20)
            let copied = try CLIRunner.bale(["copy", "--split-size", "1280K", "app:2", "oci-archive:\(dir.path)/o.tar"], environment: env)
            #expect(copied.status == 0, "\(copied)")
            #expect(size(dir.path + "/o.tar.000") == 1280 << 10)
            #expect(try sh("sha256sum -c --quiet o.tar.sha256", in: dir).status == 0)
            let other: [String: String?] = ["BALE_ROOT": dir.path + "/other"]
            let loaded = try CLIRunner.bale(["copy", "oci-archive:\(dir.path)/o.tar", "app:2"], environment: other)
            #expect(loaded.status == 0, "\(loaded)")
            #expect(try ids(other) == ids(env).filter { $0.hasPrefix("app:2 ") })
            // A size that is no size, and a split to stdout, are refused as usage errors.
            #expect(try CLIRunner.bale(["save", "--split-size", "0", "-o", dir.path + "/x", "app:1"], environment: env).status == 2)
            #expect(try CLIRunner.bale(["save", "--split-size", "1M", "app:1"], environment: env).status == 2)
        }
    }

    @Test func aDamagedOrMissingPartIsNamedBeforeAnythingIsWritten() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env = try prepare(dir)
            let whole = size(dir.path + "/whole.tar")
            #expect(try CLIRunner.bale(["save", "--split-size", "\(whole / 3 + 1)", "-o", dir.path + "/set.tar", "app:1"], environment: env).status == 0)
            // A store with another image in it, to see that nothing changes.
            let target: [String: String?] = ["BALE_ROOT": dir.path + "/target"]
            #expect(try CLIRunner.bale(["import", dir.path + "/more", "other:1"], environment: target).status == 0)
            let before = (try ids(target), try tree(dir.path + "/target"))

            let part = dir.path + "/set.tar.001"
            let good = try Data(contentsOf: URL(fileURLWithPath: part))
            var bad = good
            bad[bad.count / 2] ^= 0x01
            try bad.write(to: URL(fileURLWithPath: part))
            let damaged = try CLIRunner.bale(["load", "-i", dir.path + "/set.tar.000"], environment: target)
            #expect(damaged.status != 0)
            #expect(damaged.err.contains("set.tar.001: sha256 mismatch (expected "), "\(damaged)")
            #expect((try ids(target), try tree(dir.path + "/target")) == before)

            try good.write(to: URL(fileURLWithPath: part))
            unlink(dir.path + "/set.tar.002")
            for args in [["load", "-i", dir.path + "/set.tar"], ["copy", "docker-archive:\(dir.path)/set.tar.sha256", "x:1"]] {
                let missing = try CLIRunner.bale(args, environment: target)
                #expect(missing.status != 0)
                #expect(missing.err.contains("set.tar.002: missing"), "\(missing)")
                #expect((try ids(target), try tree(dir.path + "/target")) == before)
            }
        }
    }

    /// Extracts `archive` into `dir/name`, lets `change` edit the tree, and tars it again as `dir/name.tar`.
    private func edited(_ archive: String, _ dir: URL, _ name: String, _ change: (String) throws -> Void) throws -> String {
        let tree = dir.path + "/" + name
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        #expect(try sh("tar -xf '\(archive)' -C '\(tree)'", in: dir).status == 0)
        try change(tree)
        #expect(try sh("tar -cf '\(tree).tar' -C '\(tree)' .", in: dir).status == 0)
        return tree + ".tar"
    }

    /// The layer of app:1: the largest blob in an extracted archive.
    private func largestBlob(_ tree: String) throws -> String {
        let blobs = tree + "/blobs/sha256"
        return try FileManager.default.contentsOfDirectory(atPath: blobs).max { size(blobs + "/" + $0) < size(blobs + "/" + $1) } ?? ""
    }

    @Test func verifyArchiveChecksWithoutTouchingTheStore() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env = try prepare(dir)
            let whole = dir.path + "/whole.tar"
            #expect(try CLIRunner.bale(["save", "--split-size", "2M", "-o", dir.path + "/set.tar", "app:1"], environment: env).status == 0)
            #expect(try CLIRunner.bale(["save", "--since", whole, "-o", dir.path + "/inc.tar", "app:2"], environment: env).status == 0)
            // A large uncompressed layer: its DiffID is its digest, known without a copy of it.
            #expect(try sh("tar -cf plain-layer.tar src", in: dir).status == 0)
            #expect(try CLIRunner.bale(["commit", "--base", "app:1", dir.path + "/plain-layer.tar", "app:3"], environment: env).status == 0)
            #expect(try CLIRunner.bale(["save", "-o", dir.path + "/plain.tar", "app:3"], environment: env).status == 0)
            let before = try tree(dir.path + "/store")

            let good = try CLIRunner.bale(["verify", "--archive", whole, dir.path + "/set.tar.000", dir.path + "/inc.tar", dir.path + "/plain.tar"], environment: env)
            #expect(good.status == 0, "\(good)")
            #expect(good.out.isEmpty, "\(good)")
            // The incremental archive's expectation is a note, with whether the store has it.
            #expect(good.err.contains("inc.tar: incremental: expects sha256:") && good.err.contains("(carried by whole.tar); the store holds it"), "\(good)")
            // --since reads a split set as the archive it is.
            #expect(try CLIRunner.bale(["save", "--since", dir.path + "/set.tar.000", "-o", dir.path + "/inc2.tar", "app:2"], environment: env).status == 0)
            let sinceSplit = try CLIRunner.bale(["verify", "--archive", dir.path + "/inc2.tar"], environment: env)
            #expect(sinceSplit.status == 0 && sinceSplit.err.contains("(carried by set.tar.000); the store holds it"), "\(sinceSplit)")
            let empty: [String: String?] = ["BALE_ROOT": dir.path + "/empty"]
            let elsewhere = try CLIRunner.bale(["verify", "--archive", dir.path + "/inc.tar"], environment: empty)
            #expect(elsewhere.status == 0 && elsewhere.err.contains("the store lacks it"), "\(elsewhere)")

            var layer = ""
            let corrupt = try edited(whole, dir, "corrupt") { tree in
                layer = try largestBlob(tree)
                let path = tree + "/blobs/sha256/" + layer
                var data = try Data(contentsOf: URL(fileURLWithPath: path))
                data[data.count / 2] ^= 0x01
                try data.write(to: URL(fileURLWithPath: path))
            }
            let missing = try edited(whole, dir, "missing") { tree in
                let layer = try largestBlob(tree)
                #expect(unlink(tree + "/blobs/sha256/" + layer) == 0)
            }
            // An OCI archive has no manifest.json: its index alone says what must be there.
            #expect(try CLIRunner.bale(["save", "--format", "oci", "-o", dir.path + "/oci.tar", "app:1"], environment: env).status == 0)
            let ociMissing = try edited(dir.path + "/oci.tar", dir, "ocimissing") { tree in
                #expect(unlink(tree + "/blobs/sha256/" + layer) == 0)
            }
            var newConfig = ""
            let diffID = try edited(whole, dir, "diffid") { tree in
                // The config's DiffID changed (under the config's new digest, as manifest.json names it).
                let manifestPath = tree + "/manifest.json"
                var items = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [[String: Any]])
                let configPath = try #require(items[0]["Config"] as? String)
                var config = String(decoding: try Data(contentsOf: URL(fileURLWithPath: tree + "/" + configPath)), as: UTF8.self)
                let after = try #require(config.range(of: "diff_ids")).upperBound
                let old = try #require(config.range(of: #"sha256:[0-9a-f]{64}"#, options: .regularExpression, range: after ..< config.endIndex))
                config.replaceSubrange(old, with: SHA256Hasher.digest(Data("other".utf8)).string)
                let bytes = Data(config.utf8)
                newConfig = SHA256Hasher.digest(bytes).encoded
                try bytes.write(to: URL(fileURLWithPath: tree + "/blobs/sha256/" + newConfig))
                items[0]["Config"] = "blobs/sha256/" + newConfig
                try JSONSerialization.data(withJSONObject: items).write(to: URL(fileURLWithPath: manifestPath))
            }
            let bad = try CLIRunner.bale(["verify", "--archive", corrupt, whole, missing, diffID, ociMissing], environment: env)
            #expect(bad.status == 3, "\(bad)")
            let lines = bad.lines
            #expect(lines.count == 4, "\(bad)")
            #expect(lines.contains { $0.hasPrefix(ociMissing) && $0.contains("image app:1") && $0.contains(layer) && $0.contains("missing from the archive") }, "\(bad)")
            #expect(lines.contains { $0.hasPrefix(corrupt) && $0.contains(layer) }, "\(bad)")
            #expect(lines.contains { $0.hasPrefix(missing) && $0.contains(layer) && $0.contains("does not contain") }, "\(bad)")
            #expect(lines.contains { $0.hasPrefix(diffID) && $0.contains("image sha256:\(newConfig)") && $0.contains("diffID") }, "\(bad)")
            #expect(try tree(dir.path + "/store") == before, "verify --archive wrote into the store")
        }
    }
}
