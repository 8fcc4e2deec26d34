import BaleCore
import Foundation

/// `--change` for `import` and `commit`: Dockerfile instructions applied to an image config's `config`
/// object, with docker's mapping (FORMATS §7; moby daemon/builder/dockerfile dispatchers.go and the
/// BuildKit instruction parser).
///
/// ```
/// changes  = the -c strings joined with "\n", read as Dockerfile lines
///            ("\" at the end of a line continues it; blank lines and "# …" comments are skipped)
/// line     = INSTRUCTION [--flag=value …] arguments          INSTRUCTION is case-insensitive
/// allowed  = CMD ENTRYPOINT ENV EXPOSE HEALTHCHECK LABEL ONBUILD STOPSIGNAL USER VOLUME WORKDIR
/// ```
///
/// Every instruction is checked before any is applied, as docker does. Words of ENV, LABEL, EXPOSE,
/// USER, VOLUME, WORKDIR and STOPSIGNAL are expanded like the Dockerfile shell lexer does (quotes removed,
/// `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}` from the `Env` in force before the instruction);
/// CMD, ENTRYPOINT, HEALTHCHECK and ONBUILD text is kept as written.
public enum ConfigChanges {
    /// The instructions docker's import and commit accept.
    public static let allowed: Set<String> = [
        "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
        "VOLUME", "WORKDIR",
    ]

    /// Applies `changes` to `config` (the `config` object of an image config; `.null` or `.object`),
    /// preserving its other members. Throws `.usage` with docker's message for an instruction that is not
    /// allowed or is malformed.
    public static func apply(_ changes: [String], to config: JSONValue) throws -> JSONValue {
        let lines = try logicalLines(changes.joined(separator: "\n"))
        for line in lines where !allowed.contains(line.name.uppercased()) {
            throw BaleError(.usage, "\(line.name.lowercased()) is not a valid change command")
        }
        var state = State(config: config.object ?? [:])
        for line in lines { try state.dispatch(line) }
        return .object(state.config)
    }

    /// One instruction: its name as written, its leading `--flags` and the text after them.
    struct Line {
        var name: String
        var flags: [(String, String)]
        var rest: String
        /// The text after the instruction name (flags included), for ONBUILD.
        var afterName: String
    }

    /// Splits Dockerfile text into instructions (continuations joined, comments dropped).
    static func logicalLines(_ text: String) throws -> [Line] {
        var joined: [String] = []
        var pending: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if pending == nil && (trimmed.isEmpty || trimmed.hasPrefix("#")) { continue }
            if pending != nil && trimmed.hasPrefix("#") { continue }   // comments inside a continuation
            let trimmedEnd = line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
            if trimmedEnd.hasSuffix("\\") {
                pending = (pending ?? "") + String(trimmedEnd.dropLast())
                continue
            }
            joined.append((pending ?? "") + line)
            pending = nil
        }
        if let pending, !pending.trimmingCharacters(in: .whitespaces).isEmpty { joined.append(pending) }
        return joined.map { text in
            let trimmed = Substring(text.drop(while: { $0 == " " || $0 == "\t" }))
            let name = String(trimmed.prefix(while: { $0 != " " && $0 != "\t" }))
            let afterName = String(trimmed.dropFirst(name.count).drop(while: { $0 == " " || $0 == "\t" }))
            var rest = Substring(afterName)
            var flags: [(String, String)] = []
            while rest.hasPrefix("--") {
                let word = rest.prefix(while: { $0 != " " && $0 != "\t" })
                rest = rest.dropFirst(word.count).drop(while: { $0 == " " || $0 == "\t" })
                let body = word.dropFirst(2)
                if body.isEmpty { break }   // "--" ends the flags
                if let eq = body.firstIndex(of: "=") {
                    flags.append((String(body[..<eq]), String(body[body.index(after: eq)...])))
                } else {
                    flags.append((String(body), ""))
                }
            }
            let restText = String(rest).trimmingCharacters(in: .whitespaces)
            return Line(name: name, flags: flags, rest: restText, afterName: afterName)
        }
    }

    /// The config being edited and what docker's dispatcher remembers between instructions.
    struct State {
        var config: [String: JSONValue]
        /// A CMD came in this set, so a later ENTRYPOINT keeps it.
        var cmdSet = false

        var env: [String] { config["Env"]?.stringArray ?? [] }

        mutating func dispatch(_ line: Line) throws {
            let name = line.name.uppercased()
            if name != "HEALTHCHECK", let flag = line.flags.first {
                throw BaleError(.usage, "Unknown flag: \(flag.0)")
            }
            switch name {
            case "ENV":
                var env = self.env
                for (key, value) in try ConfigChanges.nameValues(line.rest, instruction: "ENV") {
                    let k = try ConfigChanges.expand(key, env: self.env)
                    let v = try ConfigChanges.expand(value, env: self.env)
                    guard !k.isEmpty else { throw BaleError(.usage, "ENV names can not be blank") }
                    let entry = k + "=" + v
                    if let i = env.firstIndex(where: { $0 == k || $0.hasPrefix(k + "=") }) {
                        env[i] = entry
                    } else {
                        env.append(entry)
                    }
                }
                config["Env"] = .strings(env)
            case "LABEL":
                var labels = config["Labels"]?.object ?? [:]
                for (key, value) in try ConfigChanges.nameValues(line.rest, instruction: "LABEL") {
                    let k = try ConfigChanges.expand(key, env: env)
                    guard !k.isEmpty else { throw BaleError(.usage, "LABEL names can not be blank") }
                    labels[k] = .string(try ConfigChanges.expand(value, env: env))
                }
                config["Labels"] = .object(labels)
            case "EXPOSE":
                let words = ConfigChanges.whitespaceWords(line.rest)
                guard !words.isEmpty else { throw BaleError(.usage, "EXPOSE requires at least one argument") }
                var ports = config["ExposedPorts"]?.object ?? [:]
                for word in words {
                    for port in try ConfigChanges.ports(try ConfigChanges.expand(word, env: env)) {
                        ports[port] = .object([:])
                    }
                }
                config["ExposedPorts"] = .object(ports)
            case "VOLUME":
                let words = ConfigChanges.jsonList(line.rest) ?? ConfigChanges.whitespaceWords(line.rest)
                guard !words.isEmpty else { throw BaleError(.usage, "VOLUME requires at least one argument") }
                var volumes = config["Volumes"]?.object ?? [:]
                for word in words {
                    let v = try ConfigChanges.expand(word, env: env).trimmingCharacters(in: .whitespaces)
                    guard !v.isEmpty else { throw BaleError(.usage, "VOLUME specified can not be an empty string") }
                    volumes[v] = .object([:])
                }
                config["Volumes"] = .object(volumes)
            case "USER":
                config["User"] = .string(try single(line, "USER"))
            case "STOPSIGNAL":
                let signal = try single(line, "STOPSIGNAL")
                try ConfigChanges.checkSignal(signal)
                config["StopSignal"] = .string(signal)
            case "WORKDIR":
                let requested = try single(line, "WORKDIR")
                if requested.hasPrefix("/") {
                    config["WorkingDir"] = .string(requested)
                } else {
                    let current = config["WorkingDir"]?.string ?? ""
                    config["WorkingDir"] = .string(ConfigChanges.cleanPath("/" + current + "/" + requested))
                }
            case "CMD":
                config["Cmd"] = .strings(ConfigChanges.commandLine(line.rest))
                cmdSet = true
            case "ENTRYPOINT":
                config["Entrypoint"] = .strings(ConfigChanges.commandLine(line.rest))
                if !cmdSet { config["Cmd"] = nil }
            case "ONBUILD":
                let trigger = ConfigChanges.whitespaceWords(line.rest).first?.uppercased()
                switch trigger {
                case nil: throw BaleError(.usage, "ONBUILD requires at least one argument")
                case "ONBUILD": throw BaleError(.usage, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
                case "MAINTAINER", "FROM":
                    throw BaleError(.usage, "\(trigger ?? "") isn't allowed as an ONBUILD trigger")
                default: break
                }
                var onBuild = config["OnBuild"]?.stringArray ?? []
                onBuild.append(line.afterName)
                config["OnBuild"] = .strings(onBuild)
            case "HEALTHCHECK":
                config["Healthcheck"] = try ConfigChanges.healthcheck(line)
            default:
                throw BaleError(.usage, "\(line.name.lowercased()) is not a valid change command")
            }
        }

        /// The one expanded argument of USER, WORKDIR or STOPSIGNAL.
        private func single(_ line: Line, _ instruction: String) throws -> String {
            let words = ConfigChanges.whitespaceWords(line.rest)
            guard words.count == 1 else { throw BaleError(.usage, "\(instruction) requires exactly one argument") }
            return try ConfigChanges.expand(words[0], env: env)
        }
    }

    // MARK: - Argument forms

    /// CMD / ENTRYPOINT: a JSON array of strings (exec form) as given, else `["/bin/sh", "-c", text]`.
    static func commandLine(_ text: String) -> [String] {
        jsonList(text) ?? ["/bin/sh", "-c", text]
    }

    /// The strings of a JSON array, when `text` is one (docker's `parseMaybeJSON`).
    static func jsonList(_ text: String) -> [String]? {
        guard text.hasPrefix("[") else { return nil }
        return try? JSONDecoder().decode([String].self, from: Data(text.utf8))
    }

    /// Words split on blanks (no quote handling; the expansion removes quotes).
    static func whitespaceWords(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// ENV / LABEL arguments: `k=v k2="v 2"` (each word must hold `=`) or the legacy `k value…`.
    /// Keys and values come back unexpanded, quotes still in place.
    static func nameValues(_ text: String, instruction: String) throws -> [(String, String)] {
        let words = quotedWords(text)
        guard let first = words.first else {
            throw BaleError(.usage, "\(instruction) requires at least one argument")
        }
        if !first.contains("=") {
            // Legacy form: the key, then everything after the following blanks.
            let key = first
            let value = String(text.dropFirst(key.count).drop(while: { $0 == " " || $0 == "\t" }))
            guard !value.isEmpty else { throw BaleError(.usage, "\(instruction) must have two arguments") }
            return [(key, value)]
        }
        return try words.map { word in
            guard let eq = word.firstIndex(of: "=") else {
                throw BaleError(.usage, "Syntax error - can't find = in \"\(word)\". Must be of the form: name=value")
            }
            return (String(word[..<eq]), String(word[word.index(after: eq)...]))
        }
    }

    /// Splits on blanks outside quotes, keeping quotes and backslashes (docker's `parseWords`).
    static func quotedWords(_ text: String) -> [String] {
        var words: [String] = []
        var word = ""
        var quote: Character?
        var escaped = false
        for ch in text {
            if escaped {
                word.append(ch)
                escaped = false
                continue
            }
            if ch == "\\" && quote != "'" {
                word.append(ch)
                escaped = true
                continue
            }
            if let q = quote {
                if ch == q { quote = nil }
                word.append(ch)
                continue
            }
            if ch == "\"" || ch == "'" {
                quote = ch
                word.append(ch)
                continue
            }
            if ch == " " || ch == "\t" {
                if !word.isEmpty { words.append(word); word = "" }
                continue
            }
            word.append(ch)
        }
        if !word.isEmpty { words.append(word) }
        return words
    }

    /// The Dockerfile shell lexer's word processing: removes quotes, applies backslash escapes and
    /// expands variables from `env` (`KEY=value` strings).
    static func expand(_ word: String, env: [String]) throws -> String {
        var vars: [String: String] = [:]
        for e in env {
            if let eq = e.firstIndex(of: "=") { vars[String(e[..<eq])] = String(e[e.index(after: eq)...]) }
        }
        let chars = Array(word)
        var i = 0
        var out = ""

        func variable() throws -> String {
            // chars[i] == "$"
            i += 1
            guard i < chars.count else { return "$" }
            if chars[i] == "{" {
                i += 1
                var name = ""
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" {
                    name.append(chars[i]); i += 1
                }
                guard i < chars.count else { throw BaleError(.usage, "missing '}' in \"\(word)\"") }
                if chars[i] == "}" { i += 1; return vars[name] ?? "" }
                guard chars[i] == ":", i + 1 < chars.count else {
                    throw BaleError(.usage, "unsupported modifier in \"\(word)\"")
                }
                let modifier = chars[i + 1]
                i += 2
                var inner = ""
                var depth = 0
                while i < chars.count, !(chars[i] == "}" && depth == 0) {
                    if chars[i] == "{" { depth += 1 }
                    if chars[i] == "}" { depth -= 1 }
                    inner.append(chars[i]); i += 1
                }
                guard i < chars.count else { throw BaleError(.usage, "missing '}' in \"\(word)\"") }
                i += 1
                let value = vars[name] ?? ""
                switch modifier {
                case "-": return value.isEmpty ? try expand(inner, env: env) : value
                case "+": return value.isEmpty ? "" : try expand(inner, env: env)
                default: throw BaleError(.usage, "unsupported modifier (\(modifier)) in substitution \"\(word)\"")
                }
            }
            var name = ""
            while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" {
                name.append(chars[i]); i += 1
            }
            if name.isEmpty { return "$" }
            return vars[name] ?? ""
        }

        while i < chars.count {
            let ch = chars[i]
            switch ch {
            case "'":
                i += 1
                while i < chars.count, chars[i] != "'" { out.append(chars[i]); i += 1 }
                guard i < chars.count else { throw BaleError(.usage, "unexpected end of statement while looking for matching single-quote") }
                i += 1
            case "\"":
                i += 1
                while i < chars.count, chars[i] != "\"" {
                    if chars[i] == "$" {
                        out += try variable()
                    } else if chars[i] == "\\", i + 1 < chars.count, "\"\\$".contains(chars[i + 1]) {
                        out.append(chars[i + 1]); i += 2
                    } else {
                        out.append(chars[i]); i += 1
                    }
                }
                guard i < chars.count else { throw BaleError(.usage, "unexpected end of statement while looking for matching double-quote") }
                i += 1
            case "\\":
                if i + 1 < chars.count { out.append(chars[i + 1]); i += 2 } else { i += 1 }
            case "$":
                out += try variable()
            default:
                out.append(ch); i += 1
            }
        }
        return out
    }

    /// EXPOSE: `port[-port][/proto]`, optionally after `ip:hostport:`; one `port/proto` per port.
    static func ports(_ spec: String) throws -> [String] {
        var text = Substring(spec)
        var proto = "tcp"
        if let slash = text.lastIndex(of: "/") {
            let p = text[text.index(after: slash)...]
            if !p.isEmpty { proto = p.lowercased() }
            text = text[..<slash]
        }
        let container = text.split(separator: ":", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let bounds = container.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count), let low = UInt16(bounds[0]),
              let high = bounds.count == 2 ? UInt16(bounds[1]) : low, low <= high else {
            throw BaleError(.usage, "Invalid containerPort: \(container)")
        }
        return (low...high).map { "\($0)/\(proto)" }
    }

    /// STOPSIGNAL must name a signal (moby's `signal.ParseSignal`): a positive number or a Linux name,
    /// with or without `SIG`, any case.
    static func checkSignal(_ text: String) throws {
        if let n = Int(text) {
            guard n > 0 else { throw BaleError(.usage, "Invalid signal: \(text)") }
            return
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        let names: Set<String> = [
            "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
            "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
            "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
        ]
        let rt = (1...15).flatMap { ["RTMIN+\($0)", "RTMAX-\($0)"] }
        guard names.contains(name) || rt.contains(name) else { throw BaleError(.usage, "Invalid signal: \(text)") }
    }

    /// HEALTHCHECK [flags] NONE | CMD command.
    static func healthcheck(_ line: Line) throws -> JSONValue {
        let words = whitespaceWords(line.rest)
        guard let first = words.first else { throw BaleError(.usage, "HEALTHCHECK requires at least one argument") }
        let type = first.uppercased()
        let args = String(line.rest.dropFirst(first.count)).trimmingCharacters(in: .whitespaces)
        if type == "NONE" {
            guard args.isEmpty else { throw BaleError(.usage, "HEALTHCHECK NONE takes no arguments") }
            return .object(["Test": .strings(["NONE"])])
        }
        var values: [String: String] = [:]
        for (name, value) in line.flags {
            guard ["interval", "timeout", "start-period", "start-interval", "retries"].contains(name) else {
                throw BaleError(.usage, "Unknown flag: \(name)")
            }
            guard !value.isEmpty else { throw BaleError(.usage, "Missing a value on flag: --\(name)") }
            values[name] = value
        }
        guard type == "CMD" else { throw BaleError(.usage, "Unknown type \"\(type)\" in HEALTHCHECK (try CMD)") }
        var test: [String]
        if let list = jsonList(args) {
            test = ["CMD"] + list
            guard !list.isEmpty else { throw BaleError(.usage, "Missing command after HEALTHCHECK CMD") }
        } else {
            guard !args.isEmpty else { throw BaleError(.usage, "Missing command after HEALTHCHECK CMD") }
            test = ["CMD-SHELL", args]
        }
        var object: [String: JSONValue] = ["Test": .strings(test)]
        for (flag, key) in [("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                            ("start-interval", "StartInterval")] {
            guard let text = values[flag] else { continue }
            let ns = try goDuration(text)
            if ns == 0 { continue }
            guard ns >= 1_000_000 else { throw BaleError(.usage, "Interval \"\(flag)\" cannot be less than 1ms") }
            object[key] = .int(ns)
        }
        if let text = values["retries"] {
            guard let n = Int32(text) else {
                throw BaleError(.usage, "strconv.ParseInt: parsing \"\(text)\": invalid syntax")
            }
            guard n >= 0 else { throw BaleError(.usage, "--retries cannot be negative (\(n))") }
            if n > 0 { object["Retries"] = .int(Int64(n)) }
        }
        return .object(object)
    }

    /// Go's `time.ParseDuration` in nanoseconds: `[-+]?(number unit)+` with units ns us µs ms s m h,
    /// or a bare `0`.
    public static func goDuration(_ text: String) throws -> Int64 {
        let invalid = BaleError(.usage, "time: invalid duration \"\(text)\"")
        var s = Substring(text)
        var negative = false
        if s.hasPrefix("-") || s.hasPrefix("+") { negative = s.first == "-"; s = s.dropFirst() }
        if s == "0" { return 0 }
        guard !s.isEmpty else { throw invalid }
        var total: Double = 0
        var totalInt: Int64 = 0
        while !s.isEmpty {
            let whole = s.prefix(while: { $0.isASCII && $0.isNumber })
            s = s.dropFirst(whole.count)
            var fraction: Substring = ""
            if s.hasPrefix(".") {
                s = s.dropFirst()
                fraction = s.prefix(while: { $0.isASCII && $0.isNumber })
                s = s.dropFirst(fraction.count)
            }
            guard !whole.isEmpty || !fraction.isEmpty else { throw invalid }
            let unitText = s.prefix(while: { !($0.isASCII && ($0.isNumber || $0 == ".")) })
            s = s.dropFirst(unitText.count)
            let unit: Int64
            switch unitText {
            case "ns": unit = 1
            case "us", "µs", "μs": unit = 1_000
            case "ms": unit = 1_000_000
            case "s": unit = 1_000_000_000
            case "m": unit = 60_000_000_000
            case "h": unit = 3_600_000_000_000
            default:
                throw BaleError(.usage, unitText.isEmpty ? "time: missing unit in duration \"\(text)\""
                                                        : "time: unknown unit \"\(unitText)\" in duration \"\(text)\"")
            }
            guard let w = Int64(whole.isEmpty ? "0" : whole) else { throw invalid }
            let (product, overflow) = w.multipliedReportingOverflow(by: unit)
            guard !overflow else { throw invalid }
            totalInt += product
            if !fraction.isEmpty, let f = Double("0." + fraction) { total += f * Double(unit) }
        }
        let ns = totalInt + Int64(total)
        return negative ? -ns : ns
    }

    /// Lexical clean of an absolute path (Go's `filepath.Clean` for WORKDIR joins).
    static func cleanPath(_ path: String) -> String {
        var stack: [Substring] = []
        for c in path.split(separator: "/") {
            if c == "." { continue }
            if c == ".." { _ = stack.popLast(); continue }
            stack.append(c)
        }
        return "/" + stack.joined(separator: "/")
    }
}
