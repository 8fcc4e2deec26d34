import Foundation
import Testing
@testable import BaleCore

// Documents shaped like what registries and `docker save` produce (image-spec manifest.md and
// image-index.md examples; Docker manifest-v2-2.md), with made-up digests.

private let ociManifest = """
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "\(sha256("c"))",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "\(sha256("1"))",
      "size": 32654
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "\(sha256("2"))",
      "size": 16724,
      "annotations": { "com.example.layer": "two" }
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
      "digest": "\(sha256("3"))",
      "size": 73109,
      "urls": ["https://example.com/blob"]
    }
  ],
  "subject": {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "\(sha256("5"))",
    "size": 7682
  },
  "annotations": { "com.example.key1": "value1", "org.opencontainers.image.created": "2024-01-02T03:04:05Z" },
  "com.example.unknown": { "nested": [1, 2, 3] }
}
"""

private let dockerManifest = """
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",\
"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1457,"digest":"\(sha256("d"))"},\
"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2152262,"digest":"\(sha256("e"))"}]}
"""

private let dockerList = """
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    { "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
      "digest": "\(sha256("a"))", "platform": { "architecture": "amd64", "os": "linux" } },
    { "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
      "digest": "\(sha256("b"))", "platform": { "architecture": "arm64", "os": "linux", "variant": "v8" } },
    { "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1125,
      "digest": "\(sha256("c"))",
      "platform": { "architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2227" } }
  ]
}
"""

// BuildKit output: one image and its attestation manifest.
private let ociIndexWithAttestation = """
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(sha256("1"))", "size": 673,
      "platform": { "architecture": "amd64", "os": "linux" } },
    { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(sha256("2"))", "size": 839,
      "annotations": { "vnd.docker.reference.digest": "\(sha256("1"))",
                       "vnd.docker.reference.type": "attestation-manifest" },
      "platform": { "architecture": "unknown", "os": "unknown" } },
    { "mediaType": "application/vnd.example.unknown+json", "digest": "\(sha256("3"))", "size": 1 }
  ],
  "annotations": { "org.opencontainers.image.ref.name": "latest" }
}
"""

@Suite("Manifest and Index")
struct ManifestTests {
    @Test("decodes an OCI manifest and ignores unknown fields")
    func ociManifestDecodes() throws {
        let m = try JSON.decode(Manifest.self, from: bytes(ociManifest), what: "manifest")
        #expect(m.schemaVersion == 2)
        #expect(m.mediaType == .ociManifest)
        #expect(m.config.mediaType == .ociConfig)
        #expect(m.config.digest.string == sha256("c"))
        #expect(m.config.size == 7023)
        #expect(m.layers.map(\.size) == [32654, 16724, 73109])
        #expect(m.layers[1].annotations == ["com.example.layer": "two"])
        #expect(m.layers[2].mediaType == .ociLayerZstd)
        #expect(m.layers[2].urls == ["https://example.com/blob"])
        #expect(m.subject?.digest.string == sha256("5"))
        #expect(m.annotations?["com.example.key1"] == "value1")
    }

    @Test("decodes a Docker schema 2 manifest")
    func dockerManifestDecodes() throws {
        let m = try JSON.decode(Manifest.self, from: bytes(dockerManifest), what: "manifest")
        #expect(m.mediaType == .dockerManifest)
        #expect(m.config.mediaType == .dockerConfig)
        #expect(m.layers.count == 1)
        #expect(m.layers[0].mediaType == .dockerLayerGzip)
        #expect(m.layers[0].digest.string == sha256("e"))
        #expect(m.annotations == nil && m.subject == nil)
    }

    @Test("a manifest without layers has none; without config it fails")
    func missingParts() throws {
        let noLayers = #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","#
            + #""digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}"#
        let m = try JSON.decode(Manifest.self, from: bytes(noLayers), what: "manifest")
        #expect(m.layers.isEmpty)
        #expect(m.mediaType == nil)
        #expect(m.config.mediaType == .ociEmpty)

        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Manifest.self, from: bytes(#"{"schemaVersion":2,"layers":[]}"#), what: "manifest m1")
        }
        #expect(error.code == .invalidInput)
        #expect(error.message == "manifest m1: invalid JSON: missing field \"config\"")
    }

    @Test("schemaVersion other than 2 is refused", arguments: [1, 3, 0])
    func schemaVersion(_ version: Int) throws {
        let json = dockerManifest.replacingOccurrences(of: "\"schemaVersion\":2", with: "\"schemaVersion\":\(version)")
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Manifest.self, from: bytes(json), what: "manifest X")
        }
        #expect(error.code == .invalidInput)
        #expect(error.message.hasPrefix("manifest X: invalid JSON: "))
        #expect(error.message.contains("schemaVersion \(version), expected 2"))

        let list = dockerList.replacingOccurrences(of: "\"schemaVersion\": 2", with: "\"schemaVersion\": \(version)")
        #expect(throws: BaleError.self) { try JSON.decode(Index.self, from: bytes(list), what: "index") }
    }

    @Test("a negative size is refused")
    func negativeSize() throws {
        let json = dockerManifest.replacingOccurrences(of: "\"size\":2152262", with: "\"size\":-1")
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Manifest.self, from: bytes(json), what: "manifest Y")
        }
        #expect(error.message.contains("negative size"))
        #expect(error.message.contains("layers[0].size"))
    }

    @Test("a bad digest in a descriptor is refused")
    func badDigest() throws {
        let json = dockerManifest.replacingOccurrences(of: sha256("e"), with: "sha256:" + String(repeating: "E", count: 64))
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Manifest.self, from: bytes(json), what: "manifest Z")
        }
        #expect(error.code == .invalidInput)
        #expect(error.message.hasPrefix("manifest Z: invalid JSON: "))
        #expect(error.message.contains("invalid digest"))
    }

    @Test("decodes a Docker manifest list with platforms")
    func dockerListDecodes() throws {
        let index = try JSON.decode(Index.self, from: bytes(dockerList), what: "list")
        #expect(index.mediaType == .dockerManifestList)
        #expect(index.manifests.count == 3)
        #expect(index.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64/v8", "windows/amd64"])
        #expect(index.manifests[2].platform?.osVersion == "10.0.20348.2227")
        let wanted = try Platform(parsing: "linux/arm64")
        #expect(index.manifests.filter { $0.platform?.matches(wanted) == true }.map(\.digest.string) == [sha256("b")])
        #expect(!index.manifests.contains(where: Index.isAttestation))
    }

    @Test("decodes an OCI index, spots attestations, keeps unknown entries")
    func ociIndexDecodes() throws {
        let index = try JSON.decode(Index.self, from: bytes(ociIndexWithAttestation), what: "index.json")
        #expect(index.mediaType == .ociIndex)
        #expect(index.manifests.map(Index.isAttestation) == [false, true, false])
        #expect(index.manifests[2].mediaType == MediaType("application/vnd.example.unknown+json"))
        #expect(index.manifests[2].platform == nil)
        #expect(index.annotations?[Descriptor.Annotation.refName] == "latest")
    }

    @Test("an index needs its manifests array")
    func indexNeedsManifests() throws {
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Index.self, from: bytes(#"{"schemaVersion":2}"#), what: "index.json")
        }
        #expect(error.message == "index.json: invalid JSON: missing field \"manifests\"")
    }

    @Test("encoding is canonical and decodes back equal")
    func roundTrip() throws {
        let config = Descriptor(mediaType: .ociConfig, digest: try Digest(parsing: sha256("c")), size: 2)
        let layer = Descriptor(mediaType: .ociLayerGzip, digest: try Digest(parsing: sha256("1")), size: 10)
        let m = Manifest(mediaType: .ociManifest, config: config, layers: [layer])
        let data = try JSON.canonical(m)
        #expect(String(decoding: data, as: UTF8.self) == """
            {"config":{"digest":"\(sha256("c"))","mediaType":"application/vnd.oci.image.config.v1+json","size":2},\
            "layers":[{"digest":"\(sha256("1"))","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":10}],\
            "mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}
            """)
        #expect(try JSON.decode(Manifest.self, from: data, what: "m") == m)

        let index = Index(manifests: [Descriptor(mediaType: .ociManifest, digest: try Digest(parsing: sha256("9")),
                                                 size: Int64(data.count), annotations: [Descriptor.Annotation.refName: "v1"],
                                                 platform: Platform(os: "linux", architecture: "amd64"))])
        #expect(try JSON.decode(Index.self, from: JSON.canonical(index), what: "i") == index)
    }
}
