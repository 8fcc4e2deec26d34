import Testing
@testable import BaleCore

@Suite("DisplayText")
struct DisplayTextTests {
    @Test func escapesControlCharacters() {
        #expect(DisplayText.escaped("plain név ✓") == "plain név ✓")
        #expect(DisplayText.escaped("a\nError: b") == #"a\nError: b"#)
        #expect(DisplayText.escaped("\u{1b}[31mred\r\t\u{0}\u{7f}\u{9b}") == #"\x1b[31mred\r\t\x00\x7f\u009b"#)
        #expect(DisplayText.escaped("a\tb\nc\u{1b}", keepingLayout: true) == "a\tb\nc\\x1b")
        // Idempotent: an escaped display form passes through unchanged.
        #expect(DisplayText.escaped(#"\x1b\n"#) == #"\x1b\n"#)
    }

    @Test func escapesInvalidUTF8ByteByByte() {
        #expect(DisplayText.escaped(bytes: Array("ok".utf8) + [0xff, 0xc3, 0x0a] + Array("é".utf8)) == #"ok\xff\xc3\né"#)
    }

    @Test func errorLinesAreTheDescription() {
        let error = BaleError(.io, "outer", cause: BaleError(.io, "inner\nforged"))
        #expect(error.lines == ["outer", "  caused by: inner\nforged"])
        #expect(error.description == error.lines.joined(separator: "\n"))
    }
}
