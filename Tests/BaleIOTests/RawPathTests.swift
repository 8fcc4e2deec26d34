import BaleIO
import Foundation
import Testing

@Suite struct RawPathTests {
    /// Messages show a name on one line: printable UTF-8 as it is, everything else as `\xNN`.
    @Test(arguments: [
        (Array("café/日本".utf8), #"café/日本"#),
        (Array("caf".utf8) + [0xe9], #"caf\xe9"#),
        ([0xff, 0xfe], #"\xff\xfe"#),
        (Array("a\nb\tc\u{7f}".utf8), #"a\x0ab\x09c\x7f"#),
        (Array("\u{1b}[31mred".utf8), #"\x1b[31mred"#),
        (Array("\u{202e}txt.exe".utf8), #"\xe2\x80\xaetxt.exe"#),        // a bidi override, a format character
        (Array("line\u{2028}sep\u{85}".utf8), #"line\xe2\x80\xa8sep\xc2\x85"#),
        (Array(#"back\slash"#.utf8), #"back\\slash"#),
        ([0xc3], #"\xc3"#),                                                 // a truncated sequence
        ([0xed, 0xa0, 0x80], #"\xed\xa0\x80"#),                             // an encoded surrogate
    ])
    func descriptionEscapesWhatIsNotPrintableUTF8(bytes: [UInt8], shown: String) {
        #expect(RawPath(bytes).description == shown)
        #expect(!RawPath(bytes).description.contains { $0.isNewline })
    }

    @Test func quotedEscapesTheQuote() {
        #expect(RawPath(#"say "hi""#).quoted == #""say \"hi\"""#)
    }

    /// Equality, hashing and order are the bytes': composed and decomposed "é" are two names (as on
    /// disk), which Swift's String, comparing canonical equivalents, would make one.
    @Test func bytesNotCharactersDecideEqualityAndOrder() {
        let composed = RawPath("\u{e9}")
        let decomposed = RawPath("e\u{301}")
        #expect("\u{e9}" == "e\u{301}")
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        #expect(decomposed < composed)
        #expect(RawPath([0x61, 0xff]).string == nil)
        #expect(RawPath("a/b").string == "a/b")
    }

    @Test func componentsAndJoining() {
        let path = RawPath([0x61, 0x2f, 0x2f, 0xe9, 0x2f, 0x62])
        #expect(path.components == [RawPath("a"), RawPath([0xe9]), RawPath("b")])
        #expect(RawPath("").appending("x") == "x")
        #expect(RawPath([0xe9]).appending("x") == RawPath([0xe9, 0x2f, 0x78]))
        #expect(RawPath([0xe9]).withCString { strlen($0) } == 1)
    }
}
