import Foundation
import Testing
@testable import BaleCore

@Suite("Digest")
struct DigestTests {
    @Test("parses sha256")
    func parsesValid() throws {
        let hex = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        let d = try Digest(parsing: "sha256:" + hex)
        #expect(d.algorithm == .sha256)
        #expect(d.encoded == hex)
        #expect(d.string == "sha256:" + hex)
        #expect(d.description == d.string)
        #expect(d.shortHex == "44136fa355b3")
        #expect(try Digest(sha256Hex: hex) == d)
    }

    @Test("refuses sha512 as unsupported, in a digest and inside a document")
    func refusesSha512() throws {
        let text = "sha512:" + String(repeating: "0123456789abcdef", count: 8)
        let error = try #require(throws: BaleError.self) { try Digest(parsing: text) }
        #expect(error.code == .unsupported)
        #expect(error.message.contains("sha512 digests are not supported"))
        let json = bytes("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"\(text)\",\"size\":1}")
        let wrapped = try #require(throws: BaleError.self) { try JSON.decode(Descriptor.self, from: json, what: "m.json") }
        #expect(wrapped.code == .unsupported)
        #expect(wrapped.message.hasPrefix("m.json: "))
        #expect(wrapped.message.contains("sha512 digests are not supported"))
    }

    @Test("refuses anything but strict lowercase hex of the right length", arguments: [
        "", "sha256", "sha256:", ":" + String(repeating: "a", count: 64),
        "sha256:" + String(repeating: "A", count: 64),                      // uppercase hex
        "sha256:" + String(repeating: "a", count: 63) + "A",
        "SHA256:" + String(repeating: "a", count: 64),                      // uppercase algorithm
        "sha256:" + String(repeating: "a", count: 63),                      // too short
        "sha256:" + String(repeating: "a", count: 65),                      // too long
        "sha256:" + String(repeating: "g", count: 64),                      // not hex
        "sha384:" + String(repeating: "a", count: 96),                      // unknown algorithm
        "md5:" + String(repeating: "a", count: 32),
        "sha256:" + String(repeating: "a", count: 64) + "\n",
        " sha256:" + String(repeating: "a", count: 64),
        "sha256:../../" + String(repeating: "a", count: 58),                // never a path
    ])
    func refusesInvalid(_ text: String) throws {
        let error = try #require(throws: BaleError.self) { try Digest(parsing: text) }
        #expect(error.code == .invalidReference)
        #expect(error.message.hasPrefix("invalid digest \"\(text)\""))
    }

    @Test("sha256Bytes writes lowercase hex")
    func fromBytes() {
        let raw = (0..<32).map { UInt8($0 * 8) }
        let d = Digest(sha256Bytes: raw)
        #expect(d.algorithm == .sha256)
        #expect(d.encoded == "0008101820283038404850586068707880889098a0a8b0b8c0c8d0d8e0e8f0f8")
        #expect(Digest.isLowerHex(d.encoded, length: 64))
    }

    @Test("Codable round trip as a JSON string")
    func codable() throws {
        let d = try Digest(parsing: sha256("e"))
        let data = try JSON.canonical(["digest": d])
        #expect(String(decoding: data, as: UTF8.self) == "{\"digest\":\"\(sha256("e"))\"}")
        let back = try JSONDecoder().decode([String: Digest].self, from: data)
        #expect(back["digest"] == d)
    }

    @Test("decoding refuses a bad digest")
    func decodingRefuses() {
        let json = bytes("[\"sha256:\(String(repeating: "E", count: 64))\"]")
        #expect(throws: BaleError.self) { try JSONDecoder().decode([Digest].self, from: json) }
    }

    @Test("orders by string, compares by value")
    func ordering() throws {
        let a = try Digest(parsing: sha256("a"))
        let b = try Digest(parsing: sha256("b"))
        #expect(a < b)
        #expect([b, a].sorted() == [a, b])
        #expect(a == (try Digest(sha256Hex: String(repeating: "a", count: 64))))
        #expect(Set([a, b, a]).count == 2)
    }

    @Test("isLowerHex")
    func lowerHex() {
        #expect(Digest.isLowerHex("0af9", length: 4))
        #expect(!Digest.isLowerHex("0aF9", length: 4))
        #expect(!Digest.isLowerHex("0af", length: 4))
        #expect(!Digest.isLowerHex("0af9é", length: 5))
    }
}
