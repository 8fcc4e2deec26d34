import Foundation

/// A path, or one name in it, as the bytes a tar header or the file system holds: not necessarily
/// UTF-8 (old Latin-1 root filesystems have names such as `caf\xe9`).
///
/// ```
/// bytes        any bytes but NUL ("/" separates components); compared, hashed and sorted as bytes
/// description  printable UTF-8 as is; invalid bytes, control and format characters as \xNN, "\" as \\
/// ```
///
/// Why not `String`: a Swift string cannot hold bytes that are not UTF-8 (they would have to be
/// repaired, which merges distinct names), and its `==` and hashing follow Unicode canonical
/// equivalence, so "é" and "e\u{301}", two different files on disk, would be one key. Names are bytes
/// from the tar reader to the tar writer and the `*at` calls; text is made only for messages.
public struct RawPath: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The bytes, without a terminating NUL.
    public var bytes: [UInt8]

    /// The path with these bytes.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The path with these bytes.
    public init<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        self.bytes = Array(bytes)
    }

    /// The UTF-8 bytes of `text`.
    public init(_ text: String) {
        bytes = Array(text.utf8)
    }

    /// The UTF-8 bytes of the literal.
    public init(stringLiteral text: String) {
        bytes = Array(text.utf8)
    }

    /// The bytes of a NUL-terminated C string.
    public init(cString pointer: UnsafePointer<CChar>) {
        bytes = Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }

    /// Whether there are no bytes.
    public var isEmpty: Bool { bytes.isEmpty }

    /// The text, when the bytes are valid UTF-8; `nil` otherwise (never repaired).
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// Byte order, as `ls` sorts in the C locale and as the file system stores names.
    public static func < (a: RawPath, b: RawPath) -> Bool {
        a.bytes.lexicographicallyPrecedes(b.bytes)
    }

    /// Whether the bytes start with `prefix`'s.
    public func hasPrefix(_ prefix: RawPath) -> Bool { bytes.starts(with: prefix.bytes) }

    /// Whether any byte is NUL (which a C string would cut the path at).
    public var containsNUL: Bool { bytes.contains(0) }

    /// `self + "/" + name`, or `name` when `self` is empty (the root).
    public func appending(_ name: RawPath) -> RawPath {
        if bytes.isEmpty { return name }
        var joined = bytes
        joined.reserveCapacity(bytes.count + 1 + name.bytes.count)
        joined.append(UInt8(ascii: "/"))
        joined += name.bytes
        return RawPath(joined)
    }

    /// The "/"-separated components, empty ones left out.
    public var components: [RawPath] {
        bytes.split(separator: UInt8(ascii: "/")).map { RawPath(Array($0)) }
    }

    /// Calls `body` with the bytes as a NUL-terminated C string (on the stack when short).
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            }
            buffer[bytes.count] = 0
            return try body(UnsafePointer(buffer.baseAddress!))
        }
    }

    /// The path for a one-line message: printable UTF-8 as is; bytes that are not UTF-8, control
    /// characters (C0, DEL, C1), line and paragraph separators and format characters (bidi overrides
    /// that would reorder the line) as `\xNN` per byte; a backslash doubled, so the escape is unambiguous.
    public var description: String { escaped(quote: false) }

    /// `description` in double quotes, with `"` escaped too.
    public var quoted: String { "\"" + escaped(quote: true) + "\"" }

    private func escaped(quote: Bool) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        func hex(_ byte: UInt8) {
            let digits = Array("0123456789abcdef".unicodeScalars)
            out.unicodeScalars.append("\\")
            out.unicodeScalars.append("x")
            out.unicodeScalars.append(digits[Int(byte >> 4)])
            out.unicodeScalars.append(digits[Int(byte & 0xf)])
        }
        var index = 0
        while index < bytes.count {
            let length = Self.scalarLength(bytes, at: index)
            guard length > 0 else {
                hex(bytes[index])
                index += 1
                continue
            }
            let scalarBytes = bytes[index ..< index + length]
            index += length
            guard let scalar = String(validating: scalarBytes, as: UTF8.self)?.unicodeScalars.first else {
                scalarBytes.forEach(hex)
                continue
            }
            switch scalar {
            case "\\": out += "\\\\"
            case "\"" where quote: out += "\\\""
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
                    scalarBytes.forEach(hex)
                default:
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// The length of the well-formed UTF-8 sequence at `index` (1 to 4), or 0 when there is none.
    private static func scalarLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0x00 ... 0x7f: return 1
        case 0xc2 ... 0xdf: length = 2
        case 0xe0 ... 0xef: length = 3
        case 0xf0 ... 0xf4: length = 4
        default: return 0
        }
        guard index + length <= bytes.count,
              String(validating: bytes[index ..< index + length], as: UTF8.self) != nil else { return 0 }
        return length
    }
}
