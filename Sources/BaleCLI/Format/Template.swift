import Bale
import BaleCore
import Foundation

/// How a listing is printed: `table` (docker's columns), `json` (one object per line), or a Go template
/// (`{{.Repository}}:{{.Tag}}`, `{{json .}}`, `table {{.ID}}\t{{.Size}}`), run by `Template`.
public struct OutputFormat {
    enum Kind { case table, json, template(table: Bool, Template) }
    let kind: Kind

    /// Parses `--format`; `fields` are the keys the listing provides, to refuse unknown ones early.
    public init(_ text: String?, fields: [String]) throws {
        guard let text, text != "table" else { kind = .table; return }
        if text == "json" { kind = .json; return }
        let isTable = text.hasPrefix("table ")
        let template = try Template(isTable ? String(text.dropFirst(6)) : text)
        for name in template.topLevelFields where name != "." && !fields.contains(name) {
            throw BaleError(.usage, "template: can't evaluate \"\(name)\"; fields are \(fields.map { "." + $0 }.joined(separator: " "))")
        }
        kind = .template(table: isTable, template)
    }

    /// Renders rows. `columns` pairs each field with its table header, for `table`; a template with the
    /// `table` prefix gets its header line by running on the headers (as docker's formatter does).
    /// The text is safe to print: table cells are escaped (`DisplayText`), JSON escapes control
    /// characters itself, and a template's output keeps only its newlines and tabs.
    public func render(_ rows: [[String: String]], columns: [(field: String, header: String)]) throws -> String {
        switch kind {
        case .table:
            var table = Table(header: columns.map(\.header))
            for row in rows { table.append(columns.map { row[$0.field] ?? "" }) }
            return table.render()
        case .json:
            return rows.map { GoJSON.compact(Self.value($0)) + "\n" }.joined()
        case .template(let isTable, let template):
            let lines = try rows.map { try template.execute(Self.value($0)) }
            guard isTable else { return DisplayText.escaped(lines.map { $0 + "\n" }.joined(), keepingLayout: true) }
            var headers: [String: String] = [:]
            for key in Set(rows.flatMap(\.keys)).union(template.topLevelFields) where key != "." {
                headers[key] = key.uppercased()
            }
            for column in columns { headers[column.field] = column.header }
            var table = Table()
            for line in [try template.execute(Self.value(headers))] + lines {
                table.append(line.components(separatedBy: "\t"))
            }
            return table.render()
        }
    }

    /// Whether the output shows `field` (a table never shows fields beyond its columns).
    func uses(_ field: String) -> Bool {
        switch kind {
        case .table: return false
        case .json: return true
        case .template(_, let template): return template.topLevelFields.contains(field) || template.topLevelFields.contains(".")
        }
    }

    static func value(_ row: [String: String]) -> JSONValue { .object(row.mapValues { .string($0) }) }
}

/// Go's text/template, the part docker's `--format` uses, over JSON values (what `inspect` describes
/// and what a listing's row holds): `{{.Field.Sub}}`, `{{.}}`, pipelines (`{{.Os | upper}}`),
/// `{{range}}`/`{{if}}`/`{{with}}` with `{{else}}` and `{{end}}`, variables (`{{range $k, $v := .Labels}}`,
/// `$`), `{{-`/`-}}` trimming, and the functions docker adds to Go's: `json`, `join`, `split`, `upper`,
/// `lower`, `title`, `truncate`, `pad`, with Go's `index`, `len`, `printf`, `print`, `println`, `eq`,
/// `ne`, `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`. Values print as Go prints them: arrays `[a b]`,
/// maps `map[k:v]`, a missing key `<no value>`, null `<nil>`. `\t` and `\n` written as two characters
/// (as shells pass them) become a tab and a newline, as docker does.
struct Template {
    indirect enum Node {
        case text(String)
        case action(Pipeline)
        case block(kind: String, Pipeline, body: [Node], otherwise: [Node])
    }
    struct Pipeline {
        var declared: [String] = []
        var commands: [[Operand]]
    }
    indirect enum Operand {
        case field(base: String?, path: [String])   // base nil: dot; "$x": a variable
        case literal(JSONValue)
        case function(String)
        case sub(Pipeline)
    }

    let nodes: [Node]
    let source: String
    /// What docker prints for a field its Go type leaves nil, by the field's name: `[]` for a list,
    /// `map[]` for a map (docker runs templates over typed structs; a JSON null alone would print
    /// `<nil>`). Applies to an action that is just that field, `{{.Config.Cmd}}`; `json` still says null.
    var zeroes: [String: String] = [:]
    /// Fields docker holds as sets (Go's `map[string]struct{}`), whose members print as `{}`:
    /// `{{.Config.ExposedPorts}}` is `map[80/tcp:{}]`. Likewise for an action that is just the field.
    var sets: Set<String> = []
    /// Member order of the objects docker's types are structs for, by their field name (`inspect`'s
    /// table): `{{json .RootFS}}` is `{"Type":…,"Layers":…}` as Go marshals the struct, not sorted.
    var order: [String: [String]] = [:]

    init(_ text: String) throws {
        source = text
        let expanded = text.replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(of: "\\n", with: "\n")
        var parser = Parser(tokens: try Self.split(expanded, source: text), source: text)
        nodes = try parser.nodes(until: [])
    }

    /// The first names of fields read from the top-level dot (not inside range or with).
    var topLevelFields: [String] {
        var names: [String] = []
        func pipeline(_ p: Pipeline) {
            for command in p.commands { for operand in command { visit(operand) } }
        }
        func visit(_ o: Operand) {
            switch o {
            case .field(nil, let path):
                let first = path.first ?? "."     // "." : the whole dot
                if !names.contains(first) { names.append(first) }
            case .sub(let p): pipeline(p)
            default: break
            }
        }
        for node in nodes {
            switch node {
            case .action(let p): pipeline(p)
            case .block(let kind, let p, let body, let otherwise):
                pipeline(p)
                if kind == "if" {
                    for case .action(let q) in body + otherwise { pipeline(q) }
                }
            case .text: break
            }
        }
        return names
    }

    /// Runs the template with `dot` as its data.
    func execute(_ dot: JSONValue) throws -> String {
        var out = ""
        var scope = Scope(variables: ["$": dot])
        try run(nodes, dot: dot, scope: &scope, out: &out)
        return out
    }

    // MARK: Splitting into text and actions

    enum Token { case text(String), action(String) }

    static func split(_ text: String, source: String) throws -> [Token] {
        var tokens: [Token] = []
        var rest = Substring(text)
        var trimNext = false
        while let open = rest.range(of: "{{") {
            var before = String(rest[..<open.lowerBound])
            if trimNext { before = String(before.drop(while: \.isWhitespace)) }
            guard let close = rest.range(of: "}}", range: open.upperBound..<rest.endIndex) else {
                throw BaleError(.usage, "template: unclosed action in \"\(source)\"")
            }
            var action = rest[open.upperBound..<close.lowerBound]
            if action.hasPrefix("- ") || action == "-" {
                before = String(before.reversed().drop(while: \.isWhitespace).reversed())
                action = action.dropFirst()
            }
            trimNext = false
            if action.hasSuffix(" -") {
                trimNext = true
                action = action.dropLast()
            }
            if !before.isEmpty { tokens.append(.text(before)) }
            let trimmed = action.trimmingCharacters(in: .whitespacesAndNewlines)
            if !(trimmed.hasPrefix("/*") && trimmed.hasSuffix("*/")) { tokens.append(.action(trimmed)) }
            rest = rest[close.upperBound...]
        }
        let tail = trimNext ? String(rest.drop(while: \.isWhitespace)) : String(rest)
        if !tail.isEmpty { tokens.append(.text(tail)) }
        return tokens
    }

    // MARK: Parsing

    struct Parser {
        var tokens: [Token]
        var position = 0
        let source: String

        func error(_ message: String) -> BaleError { BaleError(.usage, "template: \(message) in \"\(source)\"") }

        /// Nodes up to one of `ends` (`end`, `else`), which is consumed and returned through `ended`.
        mutating func nodes(until ends: Set<String>) throws -> [Node] {
            var ended = ""
            return try nodes(until: ends, ended: &ended)
        }

        mutating func nodes(until ends: Set<String>, ended: inout String) throws -> [Node] {
            var result: [Node] = []
            while position < tokens.count {
                let token = tokens[position]
                position += 1
                switch token {
                case .text(let t): result.append(.text(t))
                case .action(let a):
                    let word = a.prefix { !$0.isWhitespace }
                    if ends.contains(String(word)) {
                        ended = a     // the whole action: `else if …` goes on
                        return result
                    }
                    switch word {
                    case "range", "if", "with":
                        result.append(try block(String(word), a.dropFirst(word.count)))
                    case "end", "else": throw error("unexpected {{\(word)}}")
                    case "define", "template", "block", "break", "continue":
                        throw error("{{\(word)}} is not supported")
                    default:
                        result.append(.action(try parsePipeline(a)))
                    }
                }
            }
            if !ends.isEmpty { throw error("unexpected EOF") }
            return result
        }

        /// `{{kind PIPE}} body [{{else}} other | {{else if PIPE}} … ] {{end}}`: an `else if` or `else with`
        /// is a block of its own in the else branch, closed by the same `{{end}}`.
        mutating func block(_ kind: String, _ text: Substring) throws -> Node {
            let pipeline = try parsePipeline(String(text))
            var end = ""
            let body = try nodes(until: ["else", "end"], ended: &end)
            var otherwise: [Node] = []
            if end.hasPrefix("else") {
                let rest = end.dropFirst(4).trimmingCharacters(in: .whitespaces)
                let word = rest.prefix { !$0.isWhitespace }
                if word == "if" || word == "with" {
                    return .block(kind: kind, pipeline, body: body,
                                  otherwise: [try block(String(word), rest.dropFirst(word.count)[...])])
                }
                guard rest.isEmpty else { throw error("unexpected \"\(rest)\" after {{else}}") }
                otherwise = try nodes(until: ["end"], ended: &end)
            }
            guard end == "end" else { throw error("unexpected EOF: no {{end}} for {{\(kind)}}") }
            return .block(kind: kind, pipeline, body: body, otherwise: otherwise)
        }

        /// `[$a[, $b] :=] command [| command]…`, where a command is operands separated by spaces.
        func parsePipeline(_ text: String) throws -> Pipeline {
            var lexer = Lexer(text: Array(text.unicodeScalars), source: source)
            var declared: [String] = []
            if let assign = text.range(of: ":="), text[..<assign.lowerBound].allSatisfy({ "$, _".contains($0) || $0.isLetter || $0.isNumber }) {
                declared = text[..<assign.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                lexer = Lexer(text: Array(text[assign.upperBound...].unicodeScalars), source: source)
            }
            let pipeline = try lexer.pipeline(closing: false)
            guard !pipeline.commands.isEmpty else { throw error("missing value for command") }
            return Pipeline(declared: declared, commands: pipeline.commands)
        }
    }

    struct Lexer {
        var text: [Unicode.Scalar]
        var i = 0
        let source: String

        func error(_ message: String) -> BaleError { BaleError(.usage, "template: \(message) in \"\(source)\"") }

        mutating func skipSpaces() { while i < text.count, text[i] == " " || text[i] == "\t" || text[i] == "\n" { i += 1 } }

        mutating func pipeline(closing: Bool) throws -> Pipeline {
            var commands: [[Operand]] = []
            var command: [Operand] = []
            while true {
                skipSpaces()
                guard i < text.count else { break }
                let c = text[i]
                if c == ")" {
                    guard closing else { throw error("unexpected \")\"") }
                    i += 1
                    if !command.isEmpty { commands.append(command) }
                    return Pipeline(commands: commands)
                }
                if c == "|" {
                    guard !command.isEmpty else { throw error("missing command before \"|\"") }
                    commands.append(command)
                    command = []
                    i += 1
                    continue
                }
                command.append(try operand())
            }
            if closing { throw error("unclosed \"(\"") }
            if !command.isEmpty { commands.append(command) }
            return Pipeline(commands: commands)
        }

        mutating func word() -> String {
            var s = ""
            while i < text.count, !" \t\n|()".unicodeScalars.contains(text[i]) {
                s.unicodeScalars.append(text[i])
                i += 1
            }
            return s
        }

        mutating func operand() throws -> Operand {
            let c = text[i]
            if c == "(" {
                i += 1
                return .sub(try pipeline(closing: true))
            }
            if c == "\"" || c == "`" {
                return .literal(.string(try quoted(c)))
            }
            let w = word()
            if w == "." { return .field(base: nil, path: []) }
            if w.hasPrefix(".") { return .field(base: nil, path: w.dropFirst().split(separator: ".", omittingEmptySubsequences: false).map(String.init)) }
            if w.hasPrefix("$") {
                let parts = w.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                return .field(base: parts[0], path: Array(parts.dropFirst()))
            }
            if w == "true" || w == "false" { return .literal(.bool(w == "true")) }
            if w == "nil" { return .literal(.null) }
            if let n = Int64(w) { return .literal(.int(n)) }
            if let d = Double(w) { return .literal(.double(d)) }
            guard let first = w.unicodeScalars.first, CharacterSet.letters.contains(first) else {
                throw error("unexpected \"\(w)\"")
            }
            guard Template.functions.contains(w) else { throw error("function \"\(w)\" not defined") }
            return .function(w)
        }

        mutating func quoted(_ quote: Unicode.Scalar) throws -> String {
            i += 1
            var s = ""
            while i < text.count, text[i] != quote {
                if quote == "\"", text[i] == "\\", i + 1 < text.count {
                    i += 1
                    switch text[i] {
                    case "n": s += "\n"
                    case "t": s += "\t"
                    default: s.unicodeScalars.append(text[i])
                    }
                } else {
                    s.unicodeScalars.append(text[i])
                }
                i += 1
            }
            guard i < text.count else { throw error("unterminated quoted string") }
            i += 1
            return s
        }
    }

    // MARK: Running

    struct Scope { var variables: [String: JSONValue] }

    /// A value on its way through a pipeline; `nil` is a missing map key (Go prints `<no value>`).
    typealias Value = JSONValue?

    func run(_ nodes: [Node], dot: JSONValue, scope: inout Scope, out: inout String) throws {
        for node in nodes {
            switch node {
            case .text(let t): out += t
            case .action(let p):
                let v = try evaluate(p, dot: dot, scope: &scope)
                guard p.declared.isEmpty else { break }
                var field: String?
                if p.commands.count == 1, p.commands[0].count == 1, case .field(_, let path) = p.commands[0][0] { field = path.last }
                if v == nil || v == .null, let zero = field.flatMap({ zeroes[$0] }) {
                    out += zero
                } else if let field, sets.contains(field), case .object(let members)? = v {
                    out += "map[" + members.keys.sorted().map { "\($0):{}" }.joined(separator: " ") + "]"
                } else {
                    out += Self.printed(v)
                }
            case .block(let kind, let p, let body, let otherwise):
                let v = try evaluate(kind == "range" ? Pipeline(commands: p.commands) : p, dot: dot, scope: &scope)
                var inner = scope
                switch kind {
                case "if":
                    try run(Self.truth(v) ? body : otherwise, dot: dot, scope: &inner, out: &out)
                case "with":
                    if Self.truth(v), let v { try run(body, dot: v, scope: &inner, out: &out) }
                    else { try run(otherwise, dot: dot, scope: &inner, out: &out) }
                default:
                    let items: [(JSONValue, JSONValue)]
                    switch v {
                    case .array(let a)?: items = a.enumerated().map { (.int(Int64($0.offset)), $0.element) }
                    case .object(let o)?: items = o.keys.sorted().map { (.string($0), o[$0] ?? .null) }
                    case nil, .null?: items = []
                    case let other?: throw BaleError(.usage, "template: range can't iterate over \(Self.printed(other))")
                    }
                    if items.isEmpty { try run(otherwise, dot: dot, scope: &inner, out: &out) }
                    for (key, element) in items {
                        if p.declared.count == 1 { inner.variables[p.declared[0]] = element }
                        if p.declared.count == 2 {
                            inner.variables[p.declared[0]] = key
                            inner.variables[p.declared[1]] = element
                        }
                        try run(body, dot: element, scope: &inner, out: &out)
                    }
                }
            }
        }
    }

    func evaluate(_ p: Pipeline, dot: JSONValue, scope: inout Scope) throws -> Value {
        // nil: nothing piped yet; .some(nil): a missing value piped on.
        var previous: Value? = nil
        for command in p.commands {
            previous = .some(try call(command, dot: dot, scope: &scope, piped: previous))
        }
        let result: Value = previous ?? nil
        for name in p.declared { scope.variables[name] = result ?? .null }
        return result
    }

    func call(_ command: [Operand], dot: JSONValue, scope: inout Scope, piped: Value?) throws -> Value {
        guard case .function(let name) = command[0] else {
            guard command.count == 1, case .none = piped else {
                throw BaleError(.usage, "template: can't give argument to non-function in \"\(source)\"")
            }
            return try operand(command[0], dot: dot, scope: &scope)
        }
        var args = try command.dropFirst().map { try operand($0, dot: dot, scope: &scope) }
        if case .some(let value) = piped { args.append(value) }
        if name == "json", command.count == 2, case .field(let base, let path) = command[1] {
            // `{{json .X}}`: X's name picks its member order (`.` alone: the top object's).
            let key = path.last ?? (base == nil ? "" : nil)
            return .string(GoJSON.compact(args[0] ?? .null, key: key, order: order))
        }
        return try Self.apply(name, args)
    }

    func operand(_ o: Operand, dot: JSONValue, scope: inout Scope) throws -> Value {
        switch o {
        case .literal(let v): return v
        case .sub(let p): return try evaluate(p, dot: dot, scope: &scope)
        case .function(let name): return try Self.apply(name, [])
        case .field(let base, let path):
            var value: Value = dot
            if let base {
                guard let v = scope.variables[base] else {
                    throw BaleError(.usage, "template: undefined variable \"\(base)\" in \"\(source)\"")
                }
                value = v
            }
            for name in path {
                switch value {
                case .object(let o)?: value = o[name]
                case nil, .null?: value = nil
                default:
                    throw BaleError(.usage, "template: can't evaluate field \(name) in type \(Self.typeName(value))")
                }
            }
            return value
        }
    }

    // MARK: Functions

    static let functions: Set<String> = [
        "json", "join", "split", "upper", "lower", "title", "truncate", "pad", "index", "len", "printf", "print",
        "println", "eq", "ne", "lt", "le", "gt", "ge", "not", "and", "or",
    ]

    static func apply(_ name: String, _ args: [Value]) throws -> Value {
        func need(_ n: Int) throws {
            guard args.count == n else {
                throw BaleError(.usage, "template: wrong number of args for \(name): want \(n) got \(args.count)")
            }
        }
        func string(_ v: Value) throws -> String {
            guard case .string(let s)? = v else { throw BaleError(.usage, "template: \(name): expected a string, got \(printed(v))") }
            return s
        }
        func int(_ v: Value) throws -> Int64 {
            switch v {
            case .int(let n)?: return n
            case .double(let d)? where d == d.rounded(): return Int64(d)
            default: throw BaleError(.usage, "template: \(name): expected an integer, got \(printed(v))")
            }
        }
        switch name {
        case "json":
            try need(1)
            return .string(GoJSON.compact(args[0] ?? .null))
        case "join":
            try need(2)
            guard case .array(let items)? = args[0] else { throw BaleError(.usage, "template: join: expected a list") }
            return .string(try items.map { try string($0) }.joined(separator: string(args[1])))
        case "split":
            try need(2)
            return .array(try string(args[0]).components(separatedBy: string(args[1])).map { .string($0) })
        case "upper", "lower", "title":
            try need(1)
            let s = try string(args[0])
            return .string(name == "upper" ? s.uppercased() : name == "lower" ? s.lowercased() : s.capitalized)
        case "truncate":
            try need(2)
            let s = try string(args[0])
            let n = Int(max(0, try int(args[1])))
            return .string(s.count > n ? String(s.prefix(n)) : s)
        case "pad":
            try need(3)
            let s = try string(args[0])
            return .string(String(repeating: " ", count: Int(max(0, try int(args[1])))) + s
                           + String(repeating: " ", count: Int(max(0, try int(args[2])))))
        case "index":
            guard !args.isEmpty else { try need(1); return nil }
            var value = args[0]
            for key in args.dropFirst() {
                switch (value, key) {
                case (.array(let a)?, _):
                    let n = try int(key)
                    guard n >= 0, n < a.count else {
                        throw BaleError(.usage, "template: index: index out of range: \(n)")
                    }
                    value = a[Int(n)]
                case (.object(let o)?, .string(let k)?): value = o[k]
                case (nil, _), (.null?, _): throw BaleError(.usage, "template: index of untyped nil")
                default: throw BaleError(.usage, "template: can't index item of type \(typeName(value))")
                }
            }
            return value
        case "len":
            try need(1)
            switch args[0] {
            case .array(let a)?: return .int(Int64(a.count))
            case .object(let o)?: return .int(Int64(o.count))
            case .string(let s)?: return .int(Int64(s.utf8.count))
            default: throw BaleError(.usage, "template: len of \(typeName(args[0]))")
            }
        case "printf":
            guard !args.isEmpty else { try need(1); return nil }
            return .string(try GoFormat.sprintf(try string(args[0]), Array(args.dropFirst())))
        case "print", "println":
            var s = ""
            for (i, v) in args.enumerated() {
                let isString: (Value) -> Bool = { if case .string? = $0 { return true } else { return false } }
                if i > 0, name == "println" || (!isString(v) && !isString(args[i - 1])) { s += " " }
                s += printed(v)
            }
            return .string(name == "println" ? s + "\n" : s)
        case "eq", "ne":
            guard args.count >= 2 else { try need(2); return nil }
            let equal = args.dropFirst().contains { same(args[0], $0) }
            return .bool(name == "eq" ? equal : !equal)
        case "lt", "le", "gt", "ge":
            try need(2)
            let order: ComparisonResult
            if case .string(let a)? = args[0], case .string(let b)? = args[1] {
                order = a < b ? .orderedAscending : a == b ? .orderedSame : .orderedDescending
            } else {
                let a = try int(args[0]), b = try int(args[1])
                order = a < b ? .orderedAscending : a == b ? .orderedSame : .orderedDescending
            }
            switch name {
            case "lt": return .bool(order == .orderedAscending)
            case "le": return .bool(order != .orderedDescending)
            case "gt": return .bool(order == .orderedDescending)
            default: return .bool(order != .orderedAscending)
            }
        case "not":
            try need(1)
            return .bool(!truth(args[0]))
        case "and":
            guard !args.isEmpty else { try need(1); return nil }
            return args.first { !truth($0) } ?? args.last!
        default: // "or"
            guard !args.isEmpty else { try need(1); return nil }
            return args.first { truth($0) } ?? args.last!
        }
    }

    static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x)?, .double(let y)?), (.double(let y)?, .int(let x)?): return Double(x) == y
        default: return a == b
        }
    }

    /// Go's truth: false, 0, "", nil and empty collections are false.
    static func truth(_ v: Value) -> Bool {
        switch v {
        case nil, .null?: return false
        case .bool(let b)?: return b
        case .int(let n)?: return n != 0
        case .double(let d)?: return d != 0
        case .string(let s)?: return !s.isEmpty
        case .array(let a)?: return !a.isEmpty
        case .object(let o)?: return !o.isEmpty
        }
    }

    static func typeName(_ v: Value) -> String {
        switch v {
        case nil, .null?: return "<nil>"
        case .bool?: return "bool"
        case .int?: return "int"
        case .double?: return "float64"
        case .string?: return "string"
        case .array?: return "[]interface {}"
        case .object?: return "map[string]interface {}"
        }
    }

    /// A value as Go's `fmt.Print` writes it.
    static func printed(_ v: Value) -> String {
        switch v {
        case nil: return "<no value>"
        case .null?: return "<nil>"
        case .bool(let b)?: return b ? "true" : "false"
        case .int(let n)?: return String(n)
        case .double(let d)?: return d == d.rounded() && abs(d) < 1e21 ? String(Int64(d)) : String(d)
        case .string(let s)?: return s
        case .array(let a)?: return "[" + a.map { printed($0) }.joined(separator: " ") + "]"
        case .object(let o)?: return "map[" + o.keys.sorted().map { "\($0):\(printed(o[$0]))" }.joined(separator: " ") + "]"
        }
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %x %t %%`, with flags `-` and `0` and a
/// width (`%-20s`, `%5d`).
enum GoFormat {
    static func sprintf(_ format: String, _ args: [JSONValue?]) throws -> String {
        var out = ""
        var next = 0
        var chars = format.makeIterator()
        while let c = chars.next() {
            guard c == "%" else { out.append(c); continue }
            var flags = ""
            var width = ""
            var verb: Character?
            while let d = chars.next() {
                if d == "-" || (d == "0" && width.isEmpty) { flags.append(d); continue }
                if d.isNumber { width.append(d); continue }
                verb = d
                break
            }
            guard let verb else { out += "%!(NOVERB)"; break }
            if verb == "%" { out += "%"; continue }
            guard next < args.count else { out += "%!\(verb)(MISSING)"; continue }
            let arg = args[next]
            next += 1
            var text: String
            switch verb {
            case "q": text = GoJSON.quote(Template.printed(arg))
            case "x":
                if case .int(let n)? = arg { text = String(n, radix: 16) }
                else { text = Template.printed(arg).utf8.map { String(format: "%02x", $0) }.joined() }
            default: text = Template.printed(arg)
            }
            if let w = Int(width), text.count < w {
                let padding = String(repeating: flags.contains("0") && !flags.contains("-") ? "0" : " ", count: w - text.count)
                text = flags.contains("-") ? text + padding : padding + text
            }
            out += text
        }
        if next < args.count {
            out += "%!(EXTRA " + args[next...].map { Template.printed($0) }.joined(separator: ", ") + ")"
        }
        return out
    }
}
