import BaleCore
import Foundation

/// How a listing is printed: `table` (docker's columns), `json` (one object per line), or a Go-style
/// template (`{{.Repository}}:{{.Tag}}`, `{{json .}}`, `table {{.ID}}\t{{.Size}}`).
public struct OutputFormat {
    enum Piece { case text(String), field(String), json(String?) }
    enum Kind { case table, json, template(table: Bool, pieces: [Piece]) }
    let kind: Kind

    /// Parses `--format`; `fields` are the keys the listing provides, to refuse unknown ones early.
    public init(_ text: String?, fields: [String]) throws {
        guard let text, text != "table" else { kind = .table; return }
        if text == "json" { kind = .json; return }
        var body = Substring(text)
        let isTable = body.hasPrefix("table ")
        if isTable { body = body.dropFirst(6) }
        var pieces: [Piece] = []
        // The shell passes `\t` as two characters; docker turns it into a tab.
        var rest = String(body).replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(of: "\\n", with: "\n")[...]
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { pieces.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest.range(of: "}}", range: open.upperBound..<rest.endIndex) else {
                throw BaleError(.usage, "template: unclosed action in \"\(text)\"")
            }
            let action = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if action == "json ." {
                pieces.append(.json(nil))
            } else if action.hasPrefix("json .") {
                let name = String(action.dropFirst(6))
                guard fields.contains(name) else { throw Self.unknown(name, fields) }
                pieces.append(.json(name))
            } else if action.hasPrefix("."), fields.contains(String(action.dropFirst())) {
                pieces.append(.field(String(action.dropFirst())))
            } else {
                throw Self.unknown(action, fields)
            }
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        kind = .template(table: isTable, pieces: pieces)
    }

    private static func unknown(_ name: String, _ fields: [String]) -> BaleError {
        BaleError(.usage, "template: can't evaluate \"\(name)\"; fields are \(fields.map { "." + $0 }.joined(separator: " "))")
    }

    /// Renders rows. `columns` pairs each field with its table header, for `table`; a template with the
    /// `table` prefix gets headers from the same pairs.
    public func render(_ rows: [[String: String]], columns: [(field: String, header: String)]) throws -> String {
        switch kind {
        case .table:
            var table = Table(header: columns.map(\.header))
            for row in rows { table.append(columns.map { row[$0.field] ?? "" }) }
            return table.render()
        case .json:
            return try rows.map { try Self.json($0) + "\n" }.joined()
        case .template(let isTable, let pieces):
            let lines = try rows.map { row in try pieces.map { piece -> String in
                switch piece {
                case .text(let t): return t
                case .field(let f): return row[f] ?? ""
                case .json(nil): return try Self.json(row)
                case .json(let f?): return try Self.json(row[f] ?? "")
                }
            }.joined() }
            guard isTable else { return lines.map { $0 + "\n" }.joined() }
            let header = pieces.map { piece -> String in
                switch piece {
                case .text(let t): return t
                case .field(let f), .json(let f?): return columns.first { $0.field == f }?.header ?? f.uppercased()
                case .json(nil): return ""
                }
            }.joined()
            var table = Table()
            for line in [header] + lines { table.append(line.components(separatedBy: "\t")) }
            return table.render()
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSON.canonical(value), as: UTF8.self)
    }
}
