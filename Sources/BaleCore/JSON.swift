import Foundation

/// A decoded document together with the exact bytes it came from: the bytes are what is stored and
/// hashed, the value is what is read.
public struct Parsed<Value: Sendable>: Sendable {
    public let bytes: Data
    public let value: Value
    public init(bytes: Data, value: Value) {
        self.bytes = bytes
        self.value = value
    }
}

/// JSON reading and writing with bale's rules: reads are capped in size, and what bale writes is
/// canonical (sorted keys, no escaped slashes), so the same value always gives the same bytes.
public enum JSON {
    /// Documents larger than this are refused before parsing (containers/image uses 4 MiB too).
    public static let maxDocumentSize = 4 << 20

    /// Decodes `bytes` as `T`; `what` names the document in the error ("manifest sha256:… in FILE").
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: Data, what: String) throws -> T {
        guard bytes.count <= maxDocumentSize else {
            throw BaleError(.invalidInput, "\(what): \(bytes.count) bytes is over the \(maxDocumentSize)-byte limit for JSON documents")
        }
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch let error as DecodingError {
            throw BaleError(.invalidInput, "\(what): invalid JSON: \(describe(error))")
        } catch let error as BaleError where error.code == .unsupported {
            // A value's parser refused something valid it does not handle (a sha512 digest): that is
            // no malformed JSON, and the code says so.
            throw BaleError(error.code, "\(what): \(error.message)", cause: error.cause)
        } catch {
            throw BaleError(.invalidInput, "\(what): invalid JSON: \(error)")
        }
    }

    /// Decodes and keeps the bytes.
    public static func parse<T: Decodable & Sendable>(_ type: T.Type, from bytes: Data, what: String) throws -> Parsed<T> {
        Parsed(bytes: bytes, value: try decode(type, from: bytes, what: what))
    }

    /// Canonical encoding: sorted keys, slashes unescaped, no whitespace.
    public static func canonical<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Human-readable encoding for command output: indented, sorted keys.
    public static func pretty<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return try encoder.encode(value)
    }

    /// One line describing where decoding failed.
    static func describe(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .dataCorrupted(let ctx):
            if let underlying = ctx.underlyingError { return "\(ctx.debugDescription)\(path(ctx)) (\(underlying.localizedDescription))" }
            return ctx.debugDescription + path(ctx)
        case .keyNotFound(let key, let ctx): return "missing field \"\(key.stringValue)\"\(path(ctx))"
        case .typeMismatch(_, let ctx): return ctx.debugDescription + path(ctx)
        case .valueNotFound(_, let ctx): return ctx.debugDescription + path(ctx)
        @unknown default: return "\(error)"
        }
    }
}

/// RFC 3339 timestamps as Go writes them (fractional seconds up to nanoseconds, `Z` or an offset).
public enum RFC3339 {
    /// Parses a timestamp; nil when it is not RFC 3339.
    public static func parse(_ text: String) -> Date? {
        var s = Substring(text)
        var fraction = 0.0
        if let dot = s.firstIndex(of: ".") {
            var end = s.index(after: dot)
            while end < s.endIndex, s[end].isASCII, s[end].isNumber { end = s.index(after: end) }
            fraction = Double("0" + s[dot..<end]) ?? 0
            s = s[..<dot] + s[end...]
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: String(s)) else { return nil }
        return date.addingTimeInterval(fraction)
    }

    /// Formats a date as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` in UTC, with Go's trimmed fraction.
    ///
    /// The fraction stops at microseconds: a `Date` is a `Double` of seconds, which near the present
    /// carries about a quarter of a microsecond, so further digits would be rounding noise
    /// (`.123` would come out as `.122999907`).
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var seconds = date.timeIntervalSince1970.rounded(.down)
        var micros = Int(((date.timeIntervalSince1970 - seconds) * 1e6).rounded())
        if micros >= 1_000_000 {
            // The fraction rounded up to a whole second.
            seconds += 1
            micros = 0
        }
        var base = formatter.string(from: Date(timeIntervalSince1970: seconds))
        if micros > 0 {
            var frac = String(format: "%06d", micros)
            while frac.hasSuffix("0") { frac.removeLast() }
            base.removeLast() // "Z"
            base += "." + frac + "Z"
        }
        return base
    }
}
