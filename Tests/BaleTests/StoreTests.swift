import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct StoreTests {
    @Test func newStoreIsAnEmptyOCILayout() throws {
        let f = try StoreFixture()
        let layout = try #require(FileManager.default.contents(atPath: f.root + "/oci-layout"))
        #expect(String(decoding: layout, as: UTF8.self) == #"{"imageLayoutVersion":"1.0.0"}"#)
        let index = try JSON.decode(Index.self, from: f.indexBytes, what: "index.json")
        #expect(index.manifests.isEmpty)
        #expect(try f.store.images().images.isEmpty)
    }

    @Test func imagesAreListedWithNamesIDsAndSizes() throws {
        let f = try StoreFixture()
        let base = Data("base".utf8)
        let a = try f.image(layers: [base, Data("a".utf8)], names: ["app:1"])
        let b = try f.image(layers: [base, Data("bb".utf8)], created: "2025-01-01T00:00:00Z", names: ["localhost:5000/team/tool:2"])
        let (images, problems) = try f.store.images()
        #expect(problems.isEmpty)
        #expect(images.count == 2)
        let app = try #require(images.first { $0.id == a.id })
        #expect(app.names.map(\.string) == ["docker.io/library/app:1"])
        #expect(app.names.map(\.familiar) == ["app:1"])
        let tool = try #require(images.first { $0.id == b.id })
        #expect(tool.names.map(\.familiar) == ["localhost:5000/team/tool:2"])
        // manifest + config + two layers, each counted once
        let expected = a.descriptor.size + app.manifest.value.config.size + 4 + 1
        #expect(app.size == expected)
    }

    @Test func indexJSONCarriesFullNormalisedNames() throws {
        let f = try StoreFixture()
        try f.image(layers: [Data("x".utf8)], names: ["centos"])
        let index = try JSON.decode(Index.self, from: f.indexBytes, what: "index.json")
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].annotations?[Descriptor.Annotation.refName] == "docker.io/library/centos:latest")
    }

    @Test func resolveByNameIDPrefixAndDigest() throws {
        let f = try StoreFixture()
        let a = try f.image(layers: [Data("a".utf8)], names: ["app:1"])
        let images = try f.store.images().images
        #expect(try f.store.resolve("app:1", in: images).id == a.id)
        #expect(try f.store.resolve(a.id.string, in: images).id == a.id)
        #expect(try f.store.resolve(String(a.id.encoded.prefix(5)), in: images).id == a.id)
        #expect(try f.store.resolve("app@\(a.descriptor.digest)", in: images).id == a.id)
        #expect(throws: BaleError.self) { try f.store.resolve("app:2", in: images) }
        #expect(throws: BaleError.self) { try f.store.resolve("app", in: images) } // latest does not exist
    }

    @Test func tagAddsAndMovesNames() throws {
        let f = try StoreFixture()
        let a = try f.image(layers: [Data("a".utf8)], names: ["app:1"])
        let b = try f.image(layers: [Data("b".utf8)], names: ["app:2"])
        try f.store.tag("app:1", as: "app")
        var images = try f.store.images().images
        #expect(images.first { $0.id == a.id }?.names.map(\.familiar) == ["app:1", "app:latest"])
        // Moving app:2's only name leaves that image untagged, not deleted.
        try f.store.tag("app:1", as: "app:2")
        images = try f.store.images().images
        #expect(images.count == 2)
        #expect(images.first { $0.id == b.id }?.names == [])
        #expect(images.first { $0.id == a.id }?.names.count == 3)
    }

    @Test func badTargetReferenceLeavesStoreUnchanged() throws {
        let f = try StoreFixture()
        try f.image(layers: [Data("a".utf8)], names: ["app:1"])
        let before = f.indexBytes
        for bad in ["UPPER/Case", "a:b:c", "app@sha256:1234", ""] {
            #expect(throws: BaleError.self) { try f.store.tag("app:1", as: bad) }
        }
        #expect(f.indexBytes == before)
    }

    @Test func rmiByNameUntagsThenDeletesAndCollectsUniqueBlobs() throws {
        let f = try StoreFixture()
        let base = Data("shared base".utf8)
        let unique = Data("unique".utf8)
        let a = try f.image(layers: [base, unique], names: ["app:1"])
        _ = try f.image(layers: [base], names: ["other:1"])
        try f.store.tag("app:1", as: "app:copy")
        var result = try f.store.remove(["app:copy"], force: false)
        #expect(result.errors.isEmpty)
        #expect(result.events == [.untagged(try Reference(parsing: "app:copy"))])
        result = try f.store.remove(["app:1"], force: false)
        #expect(result.events == [.untagged(try Reference(parsing: "app:1")), .deleted(a.id)])
        #expect(!f.blobExists(SHA256Hasher.digest(unique)))
        #expect(!f.blobExists(a.id))
        #expect(!f.blobExists(a.descriptor.digest))
        #expect(f.blobExists(SHA256Hasher.digest(base)))
    }

    @Test func rmiByIDNeedsForceWhenSeveralNames() throws {
        let f = try StoreFixture()
        let a = try f.image(layers: [Data("a".utf8)], names: ["app:1", "web:1"])
        var result = try f.store.remove([a.id.shortHex], force: false)
        #expect(result.events.isEmpty)
        #expect(result.errors.first?.code == .conflict)
        #expect(result.errors.first?.message.contains("must be forced") == true)
        result = try f.store.remove([a.id.shortHex], force: true)
        #expect(result.events.contains(.deleted(a.id)))
        #expect(result.events.filter { if case .untagged = $0 { true } else { false } }.count == 2)
        #expect(try f.store.images().images.isEmpty)
    }

    @Test func rmiUnknownImageIsNotFound() throws {
        let f = try StoreFixture()
        let result = try f.store.remove(["nope:1"], force: false)
        #expect(result.errors.first?.code == .notFound)
        #expect(result.errors.first?.message == "No such image: nope:1")
    }

    @Test func addImageRefusesMissingBlobsAndLeavesIndexAlone() throws {
        let f = try StoreFixture()
        let before = f.indexBytes
        let missing = SHA256Hasher.digest(Data("not stored".utf8))
        let manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociConfig, digest: missing, size: 10), layers: [])
        let bytes = try JSON.canonical(manifest)
        let d = Descriptor(mediaType: .ociManifest, digest: try f.store.putBlob(bytes), size: Int64(bytes.count))
        #expect(throws: BaleError.self) { try f.store.addImage(d, names: [try Reference(parsing: "x:1")]) }
        #expect(f.indexBytes == before)
    }

    @Test func putBlobRefusesWrongDigest() throws {
        let f = try StoreFixture()
        let wrong = SHA256Hasher.digest(Data("other".utf8))
        #expect(throws: BaleError.self) { try f.store.putBlob(Data("data".utf8), expected: wrong) }
        #expect(!f.blobExists(wrong))
        let ingest = try FileManager.default.contentsOfDirectory(atPath: f.root + "/ingest")
        #expect(ingest.isEmpty)
    }

    @Test func verifyFindsCorruptedAndMissingBlobs() throws {
        let f = try StoreFixture()
        let layer = Data("layer".utf8)
        try f.image(layers: [layer, Data("second".utf8)], names: ["app:1"])
        #expect(try f.store.verify(deep: false).damage.isEmpty)
        let digest = SHA256Hasher.digest(layer)
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: f.store.blobPath(digest)))
        let report = try f.store.verify(deep: false)
        #expect(report.damage.count == 1)
        #expect(report.damage[0].code == .integrity)
        #expect(report.damage[0].message.contains(digest.string))
        let second = SHA256Hasher.digest(Data("second".utf8))
        try FileManager.default.removeItem(atPath: f.store.blobPath(second))
        let report2 = try f.store.verify(deep: false)
        #expect(report2.damage.count == 2)
        #expect(report2.damage.contains { $0.message.contains(second.string) && $0.message.contains("missing") })
    }

    @Test func pruneRemovesUnreferencedBlobsStaleIngestsAndUntaggedImages() throws {
        let f = try StoreFixture()
        let orphan = try f.store.putBlob(Data("orphan".utf8))
        try Data("partial".utf8).write(to: URL(fileURLWithPath: f.root + "/ingest/stale"))
        let a = try f.image(layers: [Data("a".utf8)], names: ["app:1"])
        let b = try f.image(layers: [Data("b".utf8)], names: ["app:2"])
        try f.store.tag("app:1", as: "app:2") // b becomes untagged
        var report = try f.store.prune(untagged: false)
        #expect(report.blobs == [orphan])
        #expect(report.ingests == 1)
        #expect(report.bytes == 6 + 7)
        #expect(f.blobExists(b.id))
        report = try f.store.prune(untagged: true)
        #expect(report.images == [b.descriptor.digest])
        #expect(!f.blobExists(b.id))
        #expect(f.blobExists(a.id))
    }

    @Test func storeWrittenByAPeerWithShortRefNameIsRead() throws {
        // skopeo `oci:STORE:app` writes ref.name "app": read as docker.io/library/app:latest.
        let f = try StoreFixture()
        let a = try f.image(layers: [Data("a".utf8)])
        var index = try JSON.decode(Index.self, from: f.indexBytes, what: "index.json")
        index.manifests = [Descriptor(mediaType: .ociManifest, digest: a.descriptor.digest, size: a.descriptor.size,
                                      annotations: [Descriptor.Annotation.refName: "app"])]
        try JSON.canonical(index).write(to: URL(fileURLWithPath: f.root + "/index.json"))
        let images = try f.store.images().images
        #expect(images.first?.names.map(\.familiar) == ["app:latest"])
    }

    @Test func defaultRootFollowsEnvironment() {
        #expect(Store.defaultRoot(environment: ["BALE_ROOT": "/x"]) == "/x")
        if geteuid() == 0 {
            #expect(Store.defaultRoot(environment: ["XDG_DATA_HOME": "/d"]) == "/var/lib/bale")
        } else {
            #expect(Store.defaultRoot(environment: ["XDG_DATA_HOME": "/d"]) == "/d/bale")
        }
    }
}
