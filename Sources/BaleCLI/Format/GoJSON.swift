import Bale
import BaleCore
import Foundation

/// JSON text as docker's Go code writes it, from a `JSONValue`: `encoding/json` escapes (`<`, `>`, `&`
/// as `\u003c`…, slashes not escaped), map keys sorted, and `json.Indent` with four spaces for
/// `inspect`. Foundation's encoder can neither keep a struct's member order nor indent by four, so the
/// text is written here; the values themselves come from `Codable`.
enum GoJSON {
    /// One line, keys sorted: what `{{json .X}}` prints of a map. With `key` (the value's name in its
    /// parent) and `order`: objects in their struct's member order, as Go marshals a struct.
    static func compact(_ value: JSONValue, key: String? = nil, order: [String: [String]] = [:]) -> String {
        var out = ""
        write(value, key: key, order: order, indent: nil, to: &out)
        return out
    }

    /// `json.Indent(…, "", "    ")`: objects whose key in their parent has an entry in `order` (the top
    /// object's key is "") list their members in that order, other objects sorted.
    static func indented(_ value: JSONValue, order: [String: [String]]) -> String {
        var out = ""
        write(value, key: "", order: order, indent: "", to: &out)
        return out
    }

    /// Encodes a value through `Codable` into the tree the other functions take.
    static func value<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }

    private static func write(_ value: JSONValue, key: String?, order: [String: [String]], indent: String?,
                              to out: inout String) {
        let inner = indent.map { $0 + "    " }
        func newline(_ level: String?) { if let level { out += "\n" + level } }
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d == d.rounded() && abs(d) < 1e21 ? String(Int64(d)) : String(d)
        case .string(let s): out += quote(s)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                newline(inner)
                write(item, key: key, order: order, indent: inner, to: &out)
            }
            newline(indent)
            out += "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            let known = key.flatMap { order[$0] } ?? []
            let keys = known.filter { members[$0] != nil } + members.keys.filter { !known.contains($0) }.sorted()
            out += "{"
            for (i, k) in keys.enumerated() {
                if i > 0 { out += "," }
                newline(inner)
                out += quote(k) + (indent == nil ? ":" : ": ")
                write(members[k] ?? .null, key: k, order: order, indent: inner, to: &out)
            }
            newline(indent)
            out += "}"
        }
    }

    /// A JSON string as Go's encoder writes it (HTML-safe escapes included).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", scalar.value)
            default:
                // Go leaves DEL and the C1 controls raw; a terminal may act on them, so they are escaped
                // too (the same JSON value).
                if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
