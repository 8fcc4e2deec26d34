import BaleCore
import Foundation

/// Any JSON value, for documents bale must edit without knowing all their fields (a base image's
/// config in `commit`: unknown fields are preserved). Encoded through `JSON.canonical`, so what bale
/// writes is deterministic (sorted keys); integers stay exact (durations in nanoseconds are Int64).
public enum JSONValue: Hashable, Sendable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let v = try? c.decode(Bool.self) { self = .bool(v); return }
        if let v = try? c.decode(Int64.self) { self = .int(v); return }
        if let v = try? c.decode(Double.self) { self = .double(v); return }
        if let v = try? c.decode(String.self) { self = .string(v); return }
        if let v = try? c.decode([JSONValue].self) { self = .array(v); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }

    /// The members of an object; `nil` for anything else.
    public var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements of an array; `nil` for anything else.
    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The text of a string; `nil` for anything else.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A JSON array of strings.
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }

    /// The elements of an array of strings; `nil` for `null`, a missing value or another shape.
    public var stringArray: [String]? {
        guard let a = array else { return nil }
        let s = a.compactMap(\.string)
        return s.count == a.count ? s : nil
    }

    /// Member `key` of an object (`nil` when absent or not an object).
    public subscript(key: String) -> JSONValue? {
        get { object?[key] }
        set {
            var o = object ?? [:]
            o[key] = newValue
            self = .object(o)
        }
    }
}
