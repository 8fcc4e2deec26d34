import Foundation
import Testing

/// The store commands (images, tag, rmi, inspect, history, verify, prune) on a store that skopeo
/// wrote, with skopeo and oci-image-tool checking after every change that peers can still read it.
/// Expected names, IDs and digests come from the generated layout, never from bale.
@Suite(.enabled(if: Harness.peersAvailable("skopeo", "oci-image-tool", "python3", "sha256sum")))
struct StoreInteropTests {
    /// base:1 is generated but not stored: app:1 and web:3 share its layer; tool:2 shares nothing.
    static let generated = [
        "base:1=layers=1",
        "app:1=base=base:1,layers=1",
        "web:3=base=base:1,layers=1",
        "localhost:5000/team/tool:2=layers=2",
    ]

    /// A generated image as it lands in the store.
    struct Stored {
        /// Name in the generated layout (its ref name there).
        var given: String
        /// Full normalised name, the store's ref name.
        var full: String
        /// Docker's familiar repository and tag, as `bale images` shows them.
        var repository: String
        var tag: String
    }

    static let stored = [
        Stored(given: "app:1", full: "docker.io/library/app:1", repository: "app", tag: "1"),
        Stored(given: "web:3", full: "docker.io/library/web:3", repository: "web", tag: "3"),
        Stored(given: "localhost:5000/team/tool:2", full: "localhost:5000/team/tool:2",
               repository: "localhost:5000/team/tool", tag: "2"),
    ]

    /// A store filled by skopeo, with what the generated layout says about each image.
    struct Fixture {
        var store: URL
        var source: URL
        /// Keyed by full name.
        var images: [String: LayoutImage]
        var indexURL: URL { store.appendingPathComponent("index.json") }

        func image(_ full: String) throws -> LayoutImage {
            try #require(images[full], "fixture has no image \(full)")
        }
    }

    func withStore<T>(_ body: (Fixture) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let source = try Harness.makeLayout(in: directory, images: Self.generated)
            let store = directory.appendingPathComponent("store")
            var images: [String: LayoutImage] = [:]
            for image in Self.stored {
                let copy = try Harness.peer(
                    "skopeo", ["copy", "--quiet", "oci:\(source.path):\(image.given)", "oci:\(store.path):\(image.full)"])
                try #require(copy.succeeded, "\(copy)")
                images[image.full] = try LayoutReader.image(image.given, in: source)
            }
            // skopeo keeps manifests and configs byte for byte between two OCI layouts.
            for image in Self.stored {
                let inStore = try LayoutReader.image(image.full, in: store)
                try #require(inStore.manifestDigest == images[image.full]?.manifestDigest)
            }
            return try body(Fixture(store: store, source: source, images: images))
        }
    }

    // MARK: helpers

    /// `oci-image-tool validate` accepts the store as an image layout (every ref, every blob).
    func expectValidLayout(_ store: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try Harness.peer("oci-image-tool", ["validate", "--type", "image", store.path])
        #expect(result.succeeded, "oci-image-tool rejects the store: \(result)", sourceLocation: sourceLocation)
    }

    /// skopeo reads the image through the store's ref name and sees the expected manifest.
    func expectSkopeoReads(
        _ store: URL, _ full: String, manifest: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try Harness.peer("skopeo", ["inspect", "oci:\(store.path):\(full)"])
        #expect(result.succeeded, "skopeo cannot read \(full): \(result)", sourceLocation: sourceLocation)
        guard result.succeeded else { return }
        let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        #expect(object?["Digest"] as? String == manifest, sourceLocation: sourceLocation)
    }

    /// Rows of the default `bale images` table as (REPOSITORY, TAG, IMAGE ID); checks the header.
    func tableRows(_ result: RunResult, sourceLocation: SourceLocation = #_sourceLocation) -> [[String]] {
        let lines = result.lines
        #expect(lines.first?.hasPrefix("REPOSITORY") == true, "no header in:\n\(result.out)",
                sourceLocation: sourceLocation)
        return lines.dropFirst().map { line in
            Array(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).prefix(3).map(String.init))
        }
    }

    func expectedRows(_ fixture: Fixture, _ names: [Stored]) throws -> Set<[String]> {
        Set(try names.map { [$0.repository, $0.tag, try fixture.image($0.full).shortID] })
    }

    func sha256(of file: URL) throws -> String {
        let result = try Harness.peer("sha256sum", [file.path])
        let hex = try #require(result.out.split(separator: " ").first, "\(result)")
        return "sha256:" + hex
    }

    // MARK: (a) listing

    @Test func imagesListsWhatSkopeoWrote() throws {
        try withStore { fixture in
            let table = try Harness.bale(["images"], root: fixture.store)
            #expect(table.succeeded, "\(table)")
            #expect(Set(tableRows(table)) == (try expectedRows(fixture, Self.stored)))
            #expect(tableRows(table).count == Self.stored.count)

            let quiet = try Harness.bale(["images", "-q"], root: fixture.store)
            #expect(quiet.succeeded, "\(quiet)")
            #expect(Set(quiet.lines) == Set(try Self.stored.map { try fixture.image($0.full).shortID }))

            let full = try Harness.bale(["images", "-q", "--no-trunc"], root: fixture.store)
            #expect(full.succeeded, "\(full)")
            #expect(Set(full.lines) == Set(try Self.stored.map { try fixture.image($0.full).configDigest }))

            let one = try Harness.bale(["images", "localhost:5000/team/tool:2"], root: fixture.store)
            #expect(one.succeeded, "\(one)")
            #expect(Set(tableRows(one)) == (try expectedRows(fixture, [Self.stored[2]])))
        }
    }

    @Test func imagesJSONHasDockerKeys() throws {
        try withStore { fixture in
            let result = try Harness.bale(["images", "--format", "json"], root: fixture.store)
            #expect(result.succeeded, "\(result)")
            #expect(result.lines.count == Self.stored.count)
            var seen: Set<[String]> = []
            for line in result.lines {
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not an object: \(line)")
                for key in ["Repository", "Tag", "Digest", "ID", "CreatedAt", "CreatedSince", "Size"] {
                    #expect(object[key] != nil, "no \(key) in \(line)")
                }
                seen.insert([object["Repository"] as? String ?? "", object["Tag"] as? String ?? "",
                             object["ID"] as? String ?? ""])
            }
            #expect(seen == (try expectedRows(fixture, Self.stored)))

            let template = try Harness.bale(["images", "--format", "{{.Repository}}:{{.Tag}}"], root: fixture.store)
            #expect(template.succeeded, "\(template)")
            #expect(Set(template.lines) == Set(Self.stored.map { "\($0.repository):\($0.tag)" }))
        }
    }

    @Test func globalOptionsWorkInEveryPosition() throws {
        try withStore { fixture in
            let before = try Harness.bale(["images"], root: fixture.store)
            let after = try Harness.bale(["images", "--root", fixture.store.path, "--no-progress"])
            let environment = try Harness.bale(["images"], environment: ["BALE_ROOT": fixture.store.path])
            #expect(before.succeeded, "\(before)")
            #expect(after.succeeded, "\(after)")
            #expect(environment.succeeded, "\(environment)")
            #expect(after.out == before.out)
            #expect(environment.out == before.out)
            #expect(tableRows(before).count == Self.stored.count)
        }
    }

    // MARK: (b) tag and rmi, (e) validation after each step, (f) skopeo still reads the store

    @Test func tagThenRmiRoundTrip() throws {
        try withStore { fixture in
            let app = try fixture.image("docker.io/library/app:1")
            let others = try ["docker.io/library/web:3", "localhost:5000/team/tool:2"].map { try fixture.image($0) }
            let otherBlobs = others.reduce(into: Set<String>()) { $0.formUnion($1.blobDigests) }
            let unique = app.blobDigests.subtracting(otherBlobs)
            let shared = app.blobDigests.intersection(otherBlobs)
            try #require(!unique.isEmpty && !shared.isEmpty, "fixture must give app:1 unique and shared blobs")
            try expectValidLayout(fixture.store)

            let tag = try Harness.bale(["tag", "app:1", "app:latest"], root: fixture.store)
            #expect(tag.succeeded, "\(tag)")
            let tagged = try Harness.bale(["images"], root: fixture.store)
            #expect(Set(tableRows(tagged)).isSuperset(of: [["app", "1", app.shortID], ["app", "latest", app.shortID]]))
            #expect(tableRows(tagged).count == Self.stored.count + 1)
            #expect(try LayoutReader.image("docker.io/library/app:latest", in: fixture.store).manifestDigest
                    == app.manifestDigest)
            try expectValidLayout(fixture.store)
            try expectSkopeoReads(fixture.store, "docker.io/library/app:latest", manifest: app.manifestDigest)
            try expectSkopeoReads(fixture.store, "docker.io/library/app:1", manifest: app.manifestDigest)

            let untag = try Harness.bale(["rmi", "app:latest"], root: fixture.store)
            #expect(untag.succeeded, "\(untag)")
            #expect(untag.lines == ["Untagged: app:latest"])
            #expect(try LayoutReader.blobDigests(in: fixture.store).isSuperset(of: app.blobDigests))
            try expectValidLayout(fixture.store)
            try expectSkopeoReads(fixture.store, "docker.io/library/app:1", manifest: app.manifestDigest)

            let delete = try Harness.bale(["rmi", "app:1"], root: fixture.store)
            #expect(delete.succeeded, "\(delete)")
            #expect(delete.lines.first == "Untagged: app:1")
            #expect(delete.lines.contains(app.configDigest.replacingOccurrences(of: "sha256:", with: "Deleted: sha256:")))
            let blobs = try LayoutReader.blobDigests(in: fixture.store)
            #expect(blobs.isDisjoint(with: unique), "blobs only app:1 used are still there")
            #expect(blobs.isSuperset(of: shared), "a blob web:3 still uses was removed")
            #expect(blobs.isSuperset(of: otherBlobs))
            let remaining = try Harness.bale(["images"], root: fixture.store)
            #expect(Set(tableRows(remaining)) == (try expectedRows(fixture, Array(Self.stored.dropFirst()))))
            try expectValidLayout(fixture.store)
            for image in Self.stored.dropFirst() {
                try expectSkopeoReads(fixture.store, image.full, manifest: try fixture.image(image.full).manifestDigest)
            }

            let prune = try Harness.bale(["prune"], root: fixture.store)
            #expect(prune.succeeded, "\(prune)")
            #expect(prune.out.contains("Total reclaimed space:"))
            try expectValidLayout(fixture.store)
        }
    }

    @Test func pruneDropsOnlyUnreferencedBlobs() throws {
        try withStore { fixture in
            let stray = fixture.store.appendingPathComponent("blobs/sha256/stray")
            try Data("not referenced by any image\n".utf8).write(to: stray)
            let digest = try sha256(of: stray)
            let strayBlob = try LayoutReader.blobURL(fixture.store, digest)
            try FileManager.default.moveItem(at: stray, to: strayBlob)
            let needed = fixture.images.values.reduce(into: Set<String>()) { $0.formUnion($1.blobDigests) }

            let prune = try Harness.bale(["prune"], root: fixture.store)
            #expect(prune.succeeded, "\(prune)")
            #expect(prune.out.contains("Total reclaimed space:"))
            let blobs = try LayoutReader.blobDigests(in: fixture.store)
            #expect(!blobs.contains(digest), "prune kept an unreferenced blob")
            #expect(blobs.isSuperset(of: needed), "prune removed a blob an image needs")
            let verify = try Harness.bale(["verify"], root: fixture.store)
            #expect(verify.succeeded, "\(verify)")
            try expectValidLayout(fixture.store)
        }
    }

    // MARK: (c) integrity

    @Test func verifyNamesTheCorruptedBlob() throws {
        try withStore { fixture in
            let clean = try Harness.bale(["verify"], root: fixture.store)
            #expect(clean.status == 0, "\(clean)")

            let tool = try fixture.image("localhost:5000/team/tool:2")
            let victim = try #require(tool.layerDigests.last)
            let file = try LayoutReader.blobURL(fixture.store, victim)
            var bytes = try Data(contentsOf: file)
            try #require(bytes.count > 64)
            for offset in 32..<48 { bytes[offset] ^= 0xFF }  // same size, different bytes
            try bytes.write(to: file)

            let damaged = try Harness.bale(["verify"], root: fixture.store)
            #expect(damaged.status == 3 && !damaged.signalled, "\(damaged)")
            #expect((damaged.out + damaged.err).contains(victim), "verify does not name \(victim): \(damaged)")
            let others = fixture.images.values.flatMap(\.blobDigests).filter { $0 != victim }
            for digest in Set(others) {
                #expect(!(damaged.out + damaged.err).contains(digest), "verify names a sound blob \(digest)")
            }
        }
    }

    // MARK: (d) bad references change nothing

    @Test(arguments: ["UPPER/Case", "a:b:c"])
    func badReferenceIsRefused(target: String) throws {
        try withStore { fixture in
            let indexBefore = try Data(contentsOf: fixture.indexURL)
            let blobsBefore = try LayoutReader.blobDigests(in: fixture.store)

            let result = try Harness.bale(["tag", "app:1", target], root: fixture.store)
            #expect(!result.signalled && (result.status == 1 || result.status == 2), "\(result)")
            #expect(result.errLines.count == 1, "want a one-line message: \(result)")
            #expect(result.err.lowercased().contains("invalid reference"), "\(result)")
            #expect(result.stdout.isEmpty)

            #expect(try Data(contentsOf: fixture.indexURL) == indexBefore, "index.json changed")
            #expect(try LayoutReader.blobDigests(in: fixture.store) == blobsBefore)
            try expectValidLayout(fixture.store)
        }
    }

    @Test func missingSourceIsRefused() throws {
        try withStore { fixture in
            let indexBefore = try Data(contentsOf: fixture.indexURL)
            let result = try Harness.bale(["tag", "nosuch:1", "other:1"], root: fixture.store)
            #expect(!result.signalled && result.status == 1, "\(result)")
            #expect(!result.err.isEmpty)
            #expect(try Data(contentsOf: fixture.indexURL) == indexBefore, "index.json changed")
        }
    }

    // MARK: inspect and history against the generated documents

    @Test func inspectShowsTheGeneratedImage() throws {
        try withStore { fixture in
            let app = try fixture.image("docker.io/library/app:1")
            let result = try Harness.bale(["inspect", "app:1"], root: fixture.store)
            #expect(result.succeeded, "\(result)")
            let array = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
            try #require(array.count == 1)
            let object = array[0]
            #expect(object["Id"] as? String == app.configDigest)
            #expect((object["RepoTags"] as? [String]) == ["app:1"])
            #expect(object["Architecture"] as? String == "amd64")
            #expect(object["Os"] as? String == "linux")
            #expect(object["Created"] != nil && object["Config"] != nil && object["Size"] != nil)
            #expect(object["RepoDigests"] != nil)
            let rootfs = object["RootFS"] as? [String: Any]
            #expect(rootfs?["Layers"] as? [String] == app.diffIDs)
            let descriptor = object["Descriptor"] as? [String: Any]
            #expect(descriptor?["digest"] as? String == app.manifestDigest)
            #expect(descriptor?["mediaType"] as? String == app.manifestMediaType)
        }
    }

    @Test func historyHasOneRowPerConfigEntry() throws {
        try withStore { fixture in
            let app = try fixture.image("docker.io/library/app:1")
            let result = try Harness.bale(["history", "app:1"], root: fixture.store)
            #expect(result.succeeded, "\(result)")
            #expect(result.lines.first?.hasPrefix("IMAGE") == true, "no header in:\n\(result.out)")
            #expect(result.lines.count == app.historyCount + 1)
        }
    }
}
