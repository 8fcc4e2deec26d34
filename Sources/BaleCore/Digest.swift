import Foundation

/// A content digest `algorithm:encoded`, parsed strictly (image-spec descriptor.md): only `sha256`
/// (64 lowercase hex) and `sha512` (128 lowercase hex). Past the parser, a digest is never a bare string,
/// so its `encoded` part is always safe to use as a file name.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The hash algorithms bale accepts.
    public enum Algorithm: String, Sendable, Codable {
        case sha256, sha512
        /// Length of the hex encoding.
        public var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    /// Lowercase hex.
    public let encoded: String

    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`; anything else throws `invalidReference`.
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":"),
              let algorithm = Algorithm(rawValue: String(text[..<colon])) else {
            throw BaleError(.invalidReference, "invalid digest \"\(text)\": expected sha256:<64 hex digits>")
        }
        let hex = String(text[text.index(after: colon)...])
        guard Digest.isLowerHex(hex, length: algorithm.hexLength) else {
            throw BaleError(.invalidReference,
                            "invalid digest \"\(text)\": expected \(algorithm.hexLength) lowercase hex digits")
        }
        self.algorithm = algorithm
        self.encoded = hex
    }

    /// A sha256 digest from 64 lowercase hex characters.
    public init(sha256Hex hex: String) throws {
        try self.init(parsing: "sha256:" + hex)
    }

    /// A sha256 digest from a raw 32-byte hash value.
    public init(sha256Bytes bytes: some Sequence<UInt8>) {
        self.algorithm = .sha256
        self.encoded = bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// `algorithm:encoded`.
    public var string: String { "\(algorithm.rawValue):\(encoded)" }
    public var description: String { string }

    /// The first 12 hex digits, as Docker shows IMAGE IDs.
    public var shortHex: String { String(encoded.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { a.string < b.string }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(string)
    }

    /// True when `s` is exactly `length` characters of `[0-9a-f]`.
    public static func isLowerHex(_ s: String, length: Int) -> Bool {
        s.utf8.count == length && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
