import Foundation
import Testing
@testable import BaleCore

@Suite("Descriptor")
struct DescriptorTests {
    @Test("decodes every field")
    func decodes() throws {
        let json = """
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(sha256("a"))","size":7682,
         "urls":["https://example.com/x"],"annotations":{"k":"v"},"data":"e30=",
         "artifactType":"application/vnd.example+type","platform":{"architecture":"arm","os":"linux","variant":"v7"},
         "future":true}
        """
        let d = try JSON.decode(Descriptor.self, from: bytes(json), what: "descriptor")
        #expect(d.mediaType == .ociManifest)
        #expect(d.digest.string == sha256("a"))
        #expect(d.size == 7682)
        #expect(d.urls == ["https://example.com/x"])
        #expect(d.annotations == ["k": "v"])
        #expect(d.data == "e30=")
        #expect(d.artifactType == "application/vnd.example+type")
        #expect(d.platform == Platform(os: "linux", architecture: "arm", variant: "v7"))
    }

    @Test("a missing mediaType reads as empty; digest and size are required")
    func required() throws {
        let d = try JSON.decode(Descriptor.self, from: bytes(#"{"digest":"\#(sha256("a"))","size":0}"#), what: "d")
        #expect(d.mediaType.rawValue == "")
        #expect(d.size == 0)
        let noDigest = try #require(throws: BaleError.self) {
            try JSON.decode(Descriptor.self, from: bytes(#"{"size":1}"#), what: "d")
        }
        #expect(noDigest.message == "d: invalid JSON: missing field \"digest\"")
        let noSize = try #require(throws: BaleError.self) {
            try JSON.decode(Descriptor.self, from: bytes(#"{"digest":"\#(sha256("a"))"}"#), what: "d")
        }
        #expect(noSize.message == "d: invalid JSON: missing field \"size\"")
    }

    @Test("negative and non-integer sizes are refused", arguments: ["-1", "-9223372036854775808", "1.5", "\"1\""])
    func badSize(_ size: String) throws {
        let json = #"{"mediaType":"x","digest":"\#(sha256("a"))","size":\#(size)}"#
        let error = try #require(throws: BaleError.self) { try JSON.decode(Descriptor.self, from: bytes(json), what: "d") }
        #expect(error.code == .invalidInput)
        #expect(error.message.hasPrefix("d: invalid JSON: "))
    }

    @Test("encodes only the fields it has, keys sorted")
    func encodes() throws {
        let d = Descriptor(mediaType: .ociLayerGzip, digest: try Digest(parsing: sha256("b")), size: 5,
                           annotations: ["org.opencontainers.image.title": "a/b"])
        #expect(String(decoding: try JSON.canonical(d), as: UTF8.self) == """
            {"annotations":{"org.opencontainers.image.title":"a/b"},"digest":"\(sha256("b"))",\
            "mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":5}
            """)
    }
}
