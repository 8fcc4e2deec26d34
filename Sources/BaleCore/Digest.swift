import Foundation

/// A content digest `algorithm:encoded`, parsed strictly (image-spec descriptor.md): `sha256` with 64
/// lowercase hex digits. Past the parser, a digest is never a bare string, so its `encoded` part is always
/// safe to use as a file name.
///
/// `sha512`, the spec's other registered algorithm, is refused here with an `unsupported` error: every
/// hashing site in bale computes SHA-256, so a sha512 digest that got past the parser would only come
/// back as a misleading integrity failure. Supporting it means hashing with `algorithm` everywhere.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The hash algorithms bale accepts.
    public enum Algorithm: String, Sendable, Codable {
        case sha256
        /// Length of the hex encoding.
        public var hexLength: Int { 64 }
    }

    public let algorithm: Algorithm
    /// Lowercase hex.
    public let encoded: String

    /// Parses `sha256:<64 hex>`; `sha512:…` throws `unsupported`, anything else `invalidReference`.
    public init(parsing text: String) throws {
        if text.hasPrefix("sha512:") {
            throw BaleError(.unsupported, "digest \"\(text)\": sha512 digests are not supported (bale verifies sha256 only)")
        }
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
