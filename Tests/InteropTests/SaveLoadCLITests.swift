import Foundation
import Testing

/// save and load behaviour as a user of docker sees it: names kept or dropped, tag moves announced,
/// images picked from a multi-image archive by name or position.
@Suite(.enabled(if: Harness.peersAvailable("python3")))
struct SaveLoadCLITests {
    func withStore<T>(_ body: (URL, URL, [String: String]) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let layout = try Harness.makeLayout(in: directory, images: ["app:1=layers=1", "web:3=layers=1"])
            let store = directory.appendingPathComponent("store")
            var ids: [String: String] = [:]
            for name in ["app:1", "web:3"] {
                let copy = try Harness.bale(["copy", "oci:\(layout.path):\(name)", name], root: store)
                try #require(copy.succeeded, "\(copy)")
                ids[name] = try LayoutReader.image(name, in: layout).configDigest
            }
            return try body(directory, store, ids)
        }
    }

    /// manifest.json of an archive, read with tar and JSONSerialization.
    func manifestJSON(_ archive: URL) throws -> [[String: Any]] {
        let r = try Harness.peer("tar", ["-xOf", archive.path, "manifest.json"])
        try #require(r.succeeded, "\(r)")
        return try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
    }

    @Test func savingByIDKeepsEveryTagAndNoTagsDropsThem() throws {
        try withStore { directory, store, ids in
            #expect(try Harness.bale(["tag", "app:1", "localhost:5000/team/app:v2"], root: store).succeeded)
            let archive = directory.appendingPathComponent("byid.tar")
            let id = ids["app:1"]!
            #expect(try Harness.bale(["save", "-o", archive.path, String(id.dropFirst(7).prefix(12))], root: store).succeeded)
            let tags = try manifestJSON(archive).first?["RepoTags"] as? [String]
            #expect(Set(tags ?? []) == ["app:1", "localhost:5000/team/app:v2"])

            let bare = directory.appendingPathComponent("bare.tar")
            #expect(try Harness.bale(["save", "--no-tags", "-o", bare.path, "app:1"], root: store).succeeded)
            let fresh = directory.appendingPathComponent("fresh")
            let load = try Harness.bale(["load", "-i", bare.path], root: fresh)
            #expect(load.lines == ["Loaded image ID: \(id)"], "\(load)")
            let images = try Harness.bale(["images", "--format", "{{.Repository}}:{{.Tag}}"], root: fresh)
            #expect(images.lines == ["<none>:<none>"])
        }
    }

    @Test func aTagThatMovesIsAnnounced() throws {
        try withStore { directory, store, ids in
            let archive = directory.appendingPathComponent("web.tar")
            #expect(try Harness.bale(["save", "-o", archive.path, "web:3"], root: store).succeeded)
            // A second store where web:3 names another image (app:1's) first.
            let other = directory.appendingPathComponent("other")
            let seed = directory.appendingPathComponent("app.tar")
            #expect(try Harness.bale(["save", "-o", seed.path, "app:1"], root: store).succeeded)
            #expect(try Harness.bale(["load", "-i", seed.path], root: other).succeeded)
            #expect(try Harness.bale(["tag", "app:1", "web:3"], root: other).succeeded)
            #expect(try Harness.bale(["rmi", "app:1"], root: other).succeeded)
            let load = try Harness.bale(["load", "-i", archive.path], root: other)
            #expect(load.lines == [
                "The image web:3 already exists, renaming the old one with ID \(ids["app:1"]!) to empty string",
                "Loaded image: web:3",
            ], "\(load)")
            let images = try Harness.bale(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], root: other)
            #expect(Set(images.lines) == ["web:3 \(ids["web:3"]!)", "<none>:<none> \(ids["app:1"]!)"])
        }
    }

    /// A name that moves to another manifest of the same image ID (web:3 from bale's save, then from
    /// skopeo's docker-archive of it, which has no manifest, so another one is made) stays on the same
    /// image: docker, loading the same two archives, prints no `renaming the old one` line and lists no
    /// `<none>` image, and neither does bale, whose store keeps the first form unnamed.
    @Test func aNameKeptOnTheSameImageIDIsNotAnnouncedAsMoved() throws {
        try withStore { directory, store, ids in
            let first = directory.appendingPathComponent("bale.tar")
            #expect(try Harness.bale(["save", "-o", first.path, "web:3"], root: store).succeeded)
            let layout = directory.appendingPathComponent("generated")
            let second = directory.appendingPathComponent("skopeo.tar")
            let copy = try Harness.peer("skopeo", ["copy", "--quiet", "oci:\(layout.path):web:3", "docker-archive:\(second.path):web:3"])
            try #require(copy.succeeded, "\(copy)")
            let listing = ["images", "-a", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]
            let fresh = directory.appendingPathComponent("fresh")
            let (expected, images) = try DockerDaemon.with { docker in
                try docker.must(["load", "-i", first.path])
                return (try docker.must(["load", "-i", second.path]).lines, try docker.must(listing).lines)
            }
            #expect(expected == ["Loaded image: web:3"])
            #expect(images == ["web:3 \(ids["web:3"]!)"])
            #expect(try Harness.bale(["load", "-i", first.path], root: fresh).succeeded)
            let load = try Harness.bale(["load", "-i", second.path], root: fresh)
            #expect(load.succeeded && load.lines == expected, "\(load)")
            #expect(try Harness.bale(listing, root: fresh).lines == images)
            for dangling in [["images", "-q", "--filter", "dangling=true"], ["images", "-a", "-q"]] {
                let listed = try Harness.bale(dangling, root: fresh)
                #expect(listed.lines == (dangling.contains("-a") ? [String(ids["web:3"]!.dropFirst(7).prefix(12))] : []), "\(listed)")
            }
        }
    }

    @Test func multiImageArchivesSelectByNameAndPosition() throws {
        try withStore { directory, store, ids in
            let archive = directory.appendingPathComponent("both.tar")
            #expect(try Harness.bale(["save", "-o", archive.path, "app:1", "web:3"], root: store).succeeded)
            let target = directory.appendingPathComponent("target")
            #expect(try Harness.bale(["copy", "docker-archive:\(archive.path):@1", "picked:1"], root: target).succeeded)
            #expect(try Harness.bale(["copy", "docker-archive:\(archive.path):app:1", "named:1"], root: target).succeeded)
            let images = try Harness.bale(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], root: target)
            #expect(Set(images.lines) == ["picked:1 \(ids["web:3"]!)", "named:1 \(ids["app:1"]!)"])
            let tooMany = try Harness.bale(["copy", "docker-archive:\(archive.path)", "both:1"], root: target)
            #expect(tooMany.status == 2, "\(tooMany)")
            #expect(tooMany.err.contains("holds 2 images"))
        }
    }

    @Test func saveRefusesATerminalAndBadFlags() throws {
        try withStore { _, store, _ in
            let bad = try Harness.bale(["save", "--compress", "lz4", "-o", "/dev/null", "app:1"], root: store)
            #expect(bad.status == 2)
            let missing = try Harness.bale(["save", "-o", "/dev/null", "nope:1"], root: store)
            #expect(missing.status == 1)
            #expect(missing.err.contains("No such image: nope:1"))
        }
    }
}
