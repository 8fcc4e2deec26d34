import Foundation
import Testing
@testable import BaleCore

private struct Sample: Codable, Equatable, Sendable {
    var url: String
    var b: Int
    var a: [String: Int]
}

@Suite("JSON")
struct JSONTests {
    @Test("documents over the size cap are refused before parsing, naming the document")
    func sizeCap() throws {
        let big = Data(repeating: UInt8(ascii: " "), count: JSON.maxDocumentSize + 1)
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Sample.self, from: big, what: "manifest sha256:ab in x.tar")
        }
        #expect(error.code == .invalidInput)
        #expect(error.message == "manifest sha256:ab in x.tar: \(JSON.maxDocumentSize + 1) bytes is over the "
                + "\(JSON.maxDocumentSize)-byte limit for JSON documents")
        #expect(JSON.maxDocumentSize == 4 * 1024 * 1024)
    }

    @Test("a document at the cap is parsed")
    func atCap() throws {
        var text = #"{"url":"u","b":1,"a":{}}"#
        text += String(repeating: " ", count: JSON.maxDocumentSize - text.utf8.count)
        let data = bytes(text)
        #expect(data.count == JSON.maxDocumentSize)
        #expect(try JSON.decode(Sample.self, from: data, what: "doc").b == 1)
    }

    @Test("syntax errors name the document", arguments: ["", "{", "[1]", "{\"url\":1,\"b\":1,\"a\":{}}", "null"])
    func syntax(_ text: String) throws {
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Sample.self, from: bytes(text), what: "index.json in /tmp/layout")
        }
        #expect(error.code == .invalidInput)
        #expect(error.message.hasPrefix("index.json in /tmp/layout: invalid JSON: "))
    }

    @Test("type mismatches say where")
    func where_() throws {
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(Sample.self, from: bytes(#"{"url":"u","b":1,"a":{"k":"v"}}"#), what: "doc")
        }
        #expect(error.message.contains(" at .a.k"))
    }

    @Test("canonical output: sorted keys, unescaped slashes, no whitespace; stable")
    func canonical() throws {
        let s = Sample(url: "https://x/y", b: 2, a: ["z": 1, "m": 2])
        let data = try JSON.canonical(s)
        #expect(String(decoding: data, as: UTF8.self) == #"{"a":{"m":2,"z":1},"b":2,"url":"https://x/y"}"#)
        #expect(try JSON.canonical(s) == data)
        #expect(try JSON.decode(Sample.self, from: data, what: "s") == s)
    }

    @Test("pretty output is indented and sorted")
    func pretty() throws {
        let text = String(decoding: try JSON.pretty(Sample(url: "a/b", b: 1, a: [:])), as: UTF8.self)
        #expect(text.contains("\n"))
        #expect(text.contains("\"a/b\""))
        let keys = ["\"a\"", "\"b\"", "\"url\""].compactMap { text.range(of: $0)?.lowerBound }
        #expect(keys.count == 3 && keys == keys.sorted())
    }

    @Test("parse keeps the exact bytes")
    func parseKeepsBytes() throws {
        let data = bytes(#"{ "b" : 1, "a" : {}, "url" : "x", "extra": [] }"#)
        let parsed = try JSON.parse(Sample.self, from: data, what: "doc")
        #expect(parsed.bytes == data)
        #expect(parsed.value == Sample(url: "x", b: 1, a: [:]))
    }
}
