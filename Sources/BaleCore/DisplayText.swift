/// Text from input (names and strings from an archive, messages that quote them) made safe to print on a
/// terminal. An archive is untrusted: a newline in an image name would forge a second `Error:` line, an
/// ESC sequence would colour the screen or retitle the window. So every control character is written
/// as an escape, the way C and Go spell them:
///
/// ```
/// \n \r \t            newline, carriage return, tab
/// \xNN                any other C0 control (U+0000–U+001F, ESC is \x1b), DEL, and each byte of
///                     invalid UTF-8 (only `escaped(bytes:)` can meet one: a String is always valid)
/// \u0085 … \u009f     the C1 controls (U+0080–U+009F; U+009B is a one-character CSI)
/// ```
///
/// A backslash is left as it is, so text that is already escaped (a tar member's display name) passes
/// through unchanged: escaping is idempotent, and the CLI can apply it at the one place it prints.
public enum DisplayText {
    /// `text` with its control characters escaped. With `keepingLayout`, newlines and tabs stay as they
    /// are (for a user's `--format` template, whose own layout uses them).
    public static func escaped(_ text: String, keepingLayout: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingLayout: keepingLayout) }) else {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars { append(scalar, to: &out, keepingLayout: keepingLayout) }
        return out
    }

    /// `bytes` decoded as UTF-8, control characters escaped as `escaped(_:)` does and each byte of an
    /// invalid sequence written as `\xNN`.
    public static func escaped(bytes: some Sequence<UInt8>) -> String {
        let bytes = Array(bytes)
        var out = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                append(Unicode.UTF8.decode(encoded), to: &out, keepingLayout: false)
                offset += encoded.count
            case .error(let length):
                for byte in bytes[offset..<offset + length] { out += hex(byte) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, keepingLayout: Bool) -> Bool {
        let v = scalar.value
        if keepingLayout, v == 0x0a || v == 0x09 { return false }
        return v < 0x20 || (0x7f...0x9f).contains(v)
    }

    private static func append(_ scalar: Unicode.Scalar, to out: inout String, keepingLayout: Bool) {
        guard needsEscape(scalar, keepingLayout: keepingLayout) else {
            out.unicodeScalars.append(scalar)
            return
        }
        switch scalar.value {
        case 0x0a: out += "\\n"
        case 0x0d: out += "\\r"
        case 0x09: out += "\\t"
        case 0x80...: out += "\\u00" + hexDigits(UInt8(scalar.value))
        default: out += hex(UInt8(scalar.value))
        }
    }

    private static func hex(_ byte: UInt8) -> String { "\\x" + hexDigits(byte) }

    private static func hexDigits(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}
