import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// Referrers ride along: an OCI 1.1 referrer (an artifact manifest with a `subject`) and a cosign
/// `sha256-<hex>.sig` attachment of an image in the store survive copies through each location that
/// keeps them, with the same digests; `referrers = false` leaves them out; a conversion that changes
/// the subject's digest leaves them out with a warning.
@Suite struct ReferrerTests {
    /// The documents of a referrer: the blobs to store, and the manifest's bytes and descriptor.
    struct Artifact {
        var blobs: [Data]
        var manifest: Data
        var descriptor: Descriptor
    }

    static let signatureType = "application/vnd.example.signature.v1+json"

    /// An OCI 1.1 artifact manifest (empty config, one signature layer) whose subject is `subject`.
    static func ociReferrer(of subject: Descriptor) throws -> Artifact {
        let empty = Data("{}".utf8)
        let signature = Data(#"{"signed":"\#(subject.digest)"}"#.utf8)
        var manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociEmpty, digest: SHA256Hasher.digest(empty), size: 2),
                                layers: [Descriptor(mediaType: MediaType(rawValue: signatureType),
                                                    digest: SHA256Hasher.digest(signature), size: Int64(signature.count))],
                                annotations: ["org.opencontainers.image.created": "2024-05-01T10:00:00Z"])
        manifest.artifactType = signatureType
        manifest.subject = Descriptor(mediaType: subject.mediaType, digest: subject.digest, size: subject.size)
        let bytes = try JSON.canonical(manifest)
        return Artifact(blobs: [empty, signature], manifest: bytes,
                        descriptor: Descriptor(mediaType: .ociManifest, digest: SHA256Hasher.digest(bytes), size: Int64(bytes.count)))
    }

    /// A cosign-style signature manifest: a simple-signing payload layer with cosign's annotations.
    static func cosignSignature(of subject: Descriptor) throws -> Artifact {
        let payload = Data(#"{"critical":{"identity":{"docker-reference":"example.com/app"},"image":{"docker-manifest-digest":"\#(subject.digest)"},"type":"cosign container image signature"},"optional":null}"#.utf8)
        let config = Data(#"{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["\#(SHA256Hasher.digest(payload))"]}}"#.utf8)
        let manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociConfig, digest: SHA256Hasher.digest(config), size: Int64(config.count)),
                                layers: [Descriptor(mediaType: MediaType(rawValue: "application/vnd.dev.cosign.simplesigning.v1+json"),
                                                    digest: SHA256Hasher.digest(payload), size: Int64(payload.count),
                                                    annotations: ["dev.cosignproject.cosign/signature": "MEUCIQDsignature"])])
        let bytes = try JSON.canonical(manifest)
        return Artifact(blobs: [config, payload], manifest: bytes,
                        descriptor: Descriptor(mediaType: .ociManifest, digest: SHA256Hasher.digest(bytes), size: Int64(bytes.count)))
    }

    static func cosignTag(_ subject: Descriptor) -> String { "sha256-\(subject.digest.encoded).sig" }

    /// A store holding example.com/app:1, an OCI 1.1 referrer of it (unnamed) and its cosign signature
    /// (named example.com/app:sha256-<hex>.sig), as a copy from a registry leaves them.
    static func signedStore() throws -> (fixture: StoreFixture, image: Descriptor, referrer: Artifact, signature: Artifact) {
        let fixture = try StoreFixture()
        let (image, _) = try fixture.image(layers: [Data("app layer".utf8)], names: ["example.com/app:1"])
        let referrer = try ociReferrer(of: image)
        let signature = try cosignSignature(of: image)
        for artifact in [referrer, signature] {
            for blob in artifact.blobs + [artifact.manifest] { _ = try fixture.store.putBlob(blob) }
        }
        try fixture.store.addImage(referrer.descriptor, names: [])
        try fixture.store.addImage(signature.descriptor, names: [try Reference(parsing: "example.com/app:" + cosignTag(image))])
        return (fixture, image, referrer, signature)
    }

    static func copy(_ from: String, _ to: String, _ fixture: StoreFixture, referrers: Bool = true) throws -> CopyReport {
        var options = CopyOptions()
        options.referrers = referrers
        return try StoreCopyTests.copy(from, to, fixture, options: options)
    }

    /// The digests (and cosign tags) a location's source says refer to `subject`.
    static func found(_ location: String, _ fixture: StoreFixture, subject: Digest) throws -> [String] {
        let source = try Location(parsing: location).source(StoreCopyTests.context(fixture))
        defer { source.close() }
        return try source.referrers(of: subject).map { "\($0.descriptor.digest)\($0.tag.map { " " + $0 } ?? "")" }.sorted()
    }

    static func expected(_ image: Descriptor, _ referrer: Artifact, _ signature: Artifact) -> [String] {
        ["\(referrer.descriptor.digest)", "\(signature.descriptor.digest) \(cosignTag(image))"].sorted()
    }

    static func temporary() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bale-referrers-\(UUID().uuidString)").path
    }

    @Test func theStoreFindsItsReferrers() throws {
        let (fixture, image, referrer, signature) = try Self.signedStore()
        #expect(try Self.found("example.com/app:1", fixture, subject: image.digest) == Self.expected(image, referrer, signature))
        // Referrers are not images of their own.
        #expect(try fixture.store.images().images.map(\.descriptor.digest) == [image.digest])
    }

    @Test func anOCILayoutKeepsThemAndGivesThemBack() throws {
        let (fixture, image, referrer, signature) = try Self.signedStore()
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = try Self.copy("example.com/app:1", "oci:" + dir, fixture)
        #expect(report.referrers.count == 2)
        #expect(try Self.found("oci:" + dir, fixture, subject: image.digest) == Self.expected(image, referrer, signature))
        // One unnamed entry for the referrer, one named by the cosign tag, as oras and skopeo leave them.
        let index = try JSON.decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/index.json")), what: "index.json")
        #expect(index.manifests.contains { $0.digest == referrer.descriptor.digest && $0.annotations == nil && $0.artifactType == Self.signatureType })
        #expect(index.manifests.contains { $0.digest == signature.descriptor.digest && $0.annotations?[Descriptor.Annotation.refName] == Self.cosignTag(image) })
        // Read back, the layout holds one image, which brings its referrers into another store.
        let source = try OCILayoutSource(root: dir, reference: nil)
        #expect(try source.images().map(\.descriptor.digest) == [image.digest])
        let other = try StoreFixture()
        _ = try Self.copy("oci:" + dir, "store:example.com/app:1", other)
        #expect(try other.store.referrers(of: [image.digest]).map(\.descriptor.digest).sorted()
                == [referrer.descriptor.digest, signature.descriptor.digest].sorted())
    }

    @Test func anOCIArchiveAndADockerArchiveKeepThem() throws {
        for prefix in ["oci-archive", "docker-archive"] {
            let (fixture, image, referrer, signature) = try Self.signedStore()
            let file = Self.temporary() + ".tar"
            defer { unlink(file) }
            _ = try Self.copy("example.com/app:1", "\(prefix):\(file)", fixture)
            let other = try StoreFixture()
            _ = try Self.copy("\(prefix):\(file)", "store:", other)
            #expect(try Self.found("example.com/app:1", other, subject: image.digest) == Self.expected(image, referrer, signature), "\(prefix)")
            #expect(try other.store.images().images.map(\.descriptor.digest) == [image.digest], "\(prefix)")
        }
    }

    @Test func aRegistryTreeKeepsThemAsRevisionsAndTags() throws {
        let (fixture, image, referrer, signature) = try Self.signedStore()
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.copy("example.com/app:1", "registry-tree:" + dir, fixture)
        let repo = dir + "/docker/registry/v2/repositories/app/_manifests"
        #expect(FileManager.default.fileExists(atPath: "\(repo)/revisions/sha256/\(referrer.descriptor.digest.encoded)/link"))
        #expect(FileManager.default.fileExists(atPath: "\(repo)/tags/\(Self.cosignTag(image))/current/link"))
        let source = try RegistryTreeSource(root: dir, reference: nil)
        #expect(try source.images().map(\.descriptor.digest) == [image.digest])
        #expect(try Self.found("registry-tree:" + dir, fixture, subject: image.digest) == Self.expected(image, referrer, signature))
        let other = try StoreFixture()
        _ = try Self.copy("registry-tree:\(dir):app:1", "store:example.com/app:1", other)
        #expect(try Self.found("example.com/app:1", other, subject: image.digest) == Self.expected(image, referrer, signature))
    }

    @Test func noReferrersLeavesThemOut() throws {
        let (fixture, image, _, _) = try Self.signedStore()
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = try Self.copy("example.com/app:1", "oci:" + dir, fixture, referrers: false)
        #expect(report.referrers.isEmpty)
        #expect(try Self.found("oci:" + dir, fixture, subject: image.digest) == [])
    }

    @Test func aConversionThatWouldChangeASignedDigestIsRefused() throws {
        let fixture = try StoreFixture()
        let layer = Data("docker layer".utf8)
        let layerDigest = try fixture.store.putBlob(layer)
        let config = try JSON.canonical(ImageConfig(architecture: "amd64", os: "linux", rootfs: .init(diffIDs: [layerDigest])))
        let manifest = try JSON.canonical(Manifest(mediaType: .dockerManifest,
            config: Descriptor(mediaType: .dockerConfig, digest: try fixture.store.putBlob(config), size: Int64(config.count)),
            layers: [Descriptor(mediaType: .dockerLayer, digest: layerDigest, size: Int64(layer.count))]))
        let image = Descriptor(mediaType: .dockerManifest, digest: try fixture.store.putBlob(manifest), size: Int64(manifest.count))
        try fixture.store.addImage(image, names: [try Reference(parsing: "example.com/old:1")])
        let referrer = try Self.ociReferrer(of: image)
        for blob in referrer.blobs + [referrer.manifest] { _ = try fixture.store.putBlob(blob) }
        try fixture.store.addImage(referrer.descriptor, names: [])
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let refusal = #expect(throws: BaleError.self) { try Self.copy("example.com/old:1", "oci:" + dir, fixture) }
        #expect(refusal?.message.contains("\(referrer.descriptor.digest)") == true, "\(String(describing: refusal))")
        #expect(refusal?.message.contains("--no-referrers") == true)
        #expect(!FileManager.default.fileExists(atPath: dir + "/index.json"))
        // --no-referrers: the image alone, converted.
        let alone = try Self.copy("example.com/old:1", "oci:" + dir, fixture, referrers: false)
        #expect(alone.referrers.isEmpty && alone.images.count == 1)
        let index = try Data(contentsOf: URL(fileURLWithPath: dir + "/index.json"))
        #expect(!String(decoding: index, as: UTF8.self).contains(referrer.descriptor.digest.encoded))
        // Where nothing is converted (a docker-archive keeps Docker types), it rides along.
        let file = Self.temporary() + ".tar"
        defer { unlink(file) }
        let same = try Self.copy("example.com/old:1", "docker-archive:" + file, fixture)
        #expect(same.referrers.map(\.descriptor.digest) == [referrer.descriptor.digest])
        #expect(same.warnings.isEmpty)
    }

    @Test func inspectListsTheReferrers() throws {
        let (fixture, image, referrer, signature) = try Self.signedStore()
        let described = try fixture.store.describe(fixture.store.image("example.com/app:1"))
        let listed = try #require(described.referrers)
        #expect(listed.map(\.digest).sorted() == [referrer.descriptor.digest.string, signature.descriptor.digest.string].sorted())
        let oci = try #require(listed.first { $0.digest == referrer.descriptor.digest.string })
        #expect(oci.artifactType == Self.signatureType)
        #expect(oci.annotations?["org.opencontainers.image.created"] == "2024-05-01T10:00:00Z")
        #expect(listed.first { $0.digest == signature.descriptor.digest.string }?.tag == Self.cosignTag(image))
    }

    @Test func rmiTakesTheReferrersAlongAndFreesTheBlobs() throws {
        let (fixture, image, referrer, signature) = try Self.signedStore()
        let (events, errors) = try fixture.store.remove(["example.com/app:1"], force: false)
        #expect(errors.isEmpty)
        #expect(events.contains(.untagged(try Reference(parsing: "example.com/app:" + Self.cosignTag(image)))))
        let index = String(decoding: fixture.indexBytes, as: UTF8.self)
        #expect(!index.contains(referrer.descriptor.digest.encoded) && !index.contains(signature.descriptor.digest.encoded))
        #expect(!fixture.blobExists(image.digest))
        #expect(!fixture.blobExists(referrer.descriptor.digest))
    }

    @Test func theTreeOfAnIndexListsItsPlatformsThenItsReferrers() throws {
        let fixture = try StoreFixture()
        let (index, manifests) = try StoreCopyTests.putIndex(fixture, name: "example.com/multi:1")
        let referrer = try Self.ociReferrer(of: index)
        for blob in referrer.blobs + [referrer.manifest] { _ = try fixture.store.putBlob(blob) }
        try fixture.store.addImage(referrer.descriptor, names: [])
        let tree = try fixture.store.tree(of: fixture.store.image("example.com/multi:1"))
        #expect(tree.platforms.map(\.manifest.digest) == manifests.map(\.digest))
        #expect(tree.platforms.map { $0.platform?.description } == ["linux/amd64", "linux/arm64"])
        #expect(tree.platforms.allSatisfy { $0.present })
        #expect(tree.referrers.map(\.descriptor.digest) == [referrer.descriptor.digest])
    }
}
