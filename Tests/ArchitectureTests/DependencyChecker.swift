import Foundation

// The layering rules of DESIGN.md section 4, checked on the source text (in the spirit of
// go-containerregistry's cmd/crane/depcheck_test.go). This is a lint, not a Swift parser: comments
// and string literals are blanked out, then imports, top-level type declarations and whole-word
// identifiers are found with regular expressions. It works on (path, contents) pairs so the tests
// can run it over a small in-memory tree as well as over the real one.

/// One file of the tree: its path from the package root ("Sources/Bale/Copy/Copier.swift") and its text.
struct SourceFile: Sendable {
    var path: String
    var contents: String
}

/// The rules; each is checked by its own test.
enum Rule: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Sources/BaleCore/ is the pure model: it imports Foundation and the standard library only.
    case coreImportsOnlyFoundation
    /// C modules (the systemLibrary targets whose names start with C) are imported in Sources/BaleIO/ only.
    case cModulesOnlyInBaleIO
    /// Sources/BaleCLI/ and Sources/bale/ reach BaleIO only through Bale.
    case cliDoesNotImportBaleIO
    /// A format folder (Sources/Bale/Formats/<A>/) names no type of another format folder (but
    /// Formats/Shared/'s, and those of the files right in Formats/), nor the store's internals
    /// (Sources/Bale/Store/) unless it is Formats/Store/.
    case formatsStayApart
    /// Sources/Bale/Copy/ names no type declared under Sources/Bale/Formats/ (any folder there,
    /// Shared/ and the files right in Formats/ included).
    case copyNamesNoFormat

    var description: String {
        switch self {
        case .coreImportsOnlyFoundation: "Sources/BaleCore/ imports only Foundation and the standard library"
        case .cModulesOnlyInBaleIO: "C modules are imported only in Sources/BaleIO/"
        case .cliDoesNotImportBaleIO: "Sources/BaleCLI/ and Sources/bale/ do not import BaleIO"
        case .formatsStayApart: "a format folder names no other format's types and no store internals"
        case .copyNamesNoFormat: "Sources/Bale/Copy/ names no type declared under Sources/Bale/Formats/"
        }
    }
}

/// One broken rule: where, and what.
struct Violation: Hashable, Comparable, Sendable, CustomStringConvertible {
    var rule: Rule
    var file: String
    /// The line of the first offending import or use (1-based).
    var line: Int
    /// "imports BaleIO", or "uses StoreSource (declared in Sources/Bale/Copy/)".
    var offence: String

    /// The line-free form the known-violations list holds (line numbers move with every edit).
    var key: String { "\(file): \(offence)" }
    var description: String { "\(file):\(line): \(offence)" }

    static func < (a: Violation, b: Violation) -> Bool { (a.file, a.line, a.offence) < (b.file, b.line, b.offence) }
}

struct DependencyChecker {
    /// Modules Sources/BaleCore/ may import: Foundation and the standard library's own modules.
    static let coreModules: Set<String> = ["Foundation", "Swift", "_Concurrency", "_StringProcessing"]

    /// Types declared under Sources/Bale/Store/ that any format may name: the store's public face.
    /// Empty until the restructure names it; `Store` itself is deliberately not one (only
    /// Formats/Store/ talks to the store).
    static let storeTypesForAllFormats: Set<String> = []

    /// The Swift files, sorted by path, with their text as the scanner sees it (comments and strings blanked).
    let files: [(path: String, code: String)]

    /// The systemLibrary targets of Package.swift whose names start with C.
    let cModules: Set<String>

    /// Top-level type name → the folder of the file declaring it (with a trailing slash), for the
    /// non-private types of Sources/Bale/.
    let declarations: [String: String]

    init(files: [SourceFile]) {
        self.files = files.filter { $0.path.hasSuffix(".swift") }.sorted { $0.path < $1.path }
            .map { ($0.path, Self.blankCommentsAndStrings($0.contents)) }
        let manifest = files.first { $0.path == "Package.swift" }
            .map { Self.blankCommentsAndStrings($0.contents, keepStrings: true) } ?? ""
        cModules = Set(Self.matches(Self.systemLibraryPattern, in: manifest).map { $0[1] })
        var declarations: [String: String] = [:]
        for file in self.files where file.path.hasPrefix("Sources/Bale/") {
            let folder = String(file.path[...file.path.lastIndex(of: "/")!])
            for name in Self.topLevelTypes(in: file.code) { declarations[name] = folder }
        }
        self.declarations = declarations
    }

    /// Every violation of `rule`, sorted by file and line.
    func violations(of rule: Rule) -> [Violation] {
        var found: [Violation] = []
        switch rule {
        case .coreImportsOnlyFoundation:
            for file in swiftFiles(under: "Sources/BaleCore/") {
                for (module, line) in Self.imports(in: file.code) where !Self.coreModules.contains(module) {
                    found.append(Violation(rule: rule, file: file.path, line: line, offence: "imports \(module)"))
                }
            }
        case .cModulesOnlyInBaleIO:
            for file in swiftFiles(under: "Sources/") where !file.path.hasPrefix("Sources/BaleIO/") {
                for (module, line) in Self.imports(in: file.code) where cModules.contains(module) {
                    found.append(Violation(rule: rule, file: file.path, line: line, offence: "imports \(module)"))
                }
            }
        case .cliDoesNotImportBaleIO:
            for file in swiftFiles(under: "Sources/BaleCLI/") + swiftFiles(under: "Sources/bale/") {
                for (module, line) in Self.imports(in: file.code) where module == "BaleIO" {
                    found.append(Violation(rule: rule, file: file.path, line: line, offence: "imports \(module)"))
                }
            }
        case .formatsStayApart:
            for file in swiftFiles(under: Self.formats) {
                // Files right in Formats/ (the location vocabulary, the prefix table) belong to no format.
                guard let own = Self.formatFolder(file.path) else { continue }
                found += uses(in: file, rule: rule) { name in
                    guard let folder = declarations[name] else { return false }
                    if let other = Self.formatFolder(folder) { return other != own && other != "Shared" }
                    return folder.hasPrefix(Self.store) && own != "Store" && !Self.storeTypesForAllFormats.contains(name)
                }
            }
        case .copyNamesNoFormat:
            for file in swiftFiles(under: "Sources/Bale/Copy/") {
                found += uses(in: file, rule: rule) { declarations[$0]?.hasPrefix(Self.formats) ?? false }
            }
        }
        return found.sorted()
    }

    /// Compares what `rule` finds with the violations known and tolerated (as `Violation.key`s):
    /// the new ones, and the known ones no longer found (so that the list cannot go stale).
    func audit(_ rule: Rule, known: [String]) -> (unexpected: [Violation], stale: [String]) {
        let found = violations(of: rule)
        let foundKeys = Set(found.map(\.key))
        let knownKeys = Set(known)
        return (found.filter { !knownKeys.contains($0.key) }, known.filter { !foundKeys.contains($0) }.sorted())
    }

    // MARK: - The tree

    static let formats = "Sources/Bale/Formats/"
    static let store = "Sources/Bale/Store/"

    /// "OCILayout" for Sources/Bale/Formats/OCILayout/X.swift (or that folder); nil for a path
    /// right in Formats/ or outside it.
    static func formatFolder(_ path: String) -> String? {
        guard path.hasPrefix(formats) else { return nil }
        let rest = path.dropFirst(formats.count)
        return rest.firstIndex(of: "/").map { String(rest[..<$0]) }
    }

    private func swiftFiles(under folder: String) -> [(path: String, code: String)] {
        files.filter { $0.path.hasPrefix(folder) }
    }

    /// One violation per identifier of `file` for which `offends` holds, at its first use.
    private func uses(in file: (path: String, code: String), rule: Rule, _ offends: (String) -> Bool) -> [Violation] {
        var seen: Set<String> = []
        var found: [Violation] = []
        for (name, line) in Self.identifiers(in: file.code) where !seen.contains(name) && offends(name) {
            seen.insert(name)
            let folder = declarations[name] ?? "?"
            found.append(Violation(rule: rule, file: file.path, line: line, offence: "uses \(name) (declared in \(folder))"))
        }
        return found
    }

    // MARK: - The scanner

    /// Modules imported by `code` (comments and strings already blanked), with their lines:
    /// `import M`, `@testable import M`, `import struct M.T`, `import M.Sub` all give `M`.
    static func imports(in code: String) -> [(module: String, line: Int)] {
        lines(code).compactMap { line, text in
            matches(importPattern, in: text)
                .first.map { ($0[1], line) }
        }
    }

    /// Names of the non-private types (class, struct, enum, protocol, typealias, actor) declared at
    /// the top level of `code` (comments and strings already blanked): brace depth 0.
    static func topLevelTypes(in code: String) -> [String] {
        let modifiers: Set<String> = ["public", "internal", "package", "open", "final", "indirect", "nonisolated"]
        var names: [String] = []
        var depth = 0
        for (_, text) in lines(code) {
            if depth == 0, let match = matches(declarationPattern, in: text).first,
                match[1].split(separator: " ").allSatisfy({ modifiers.contains(String($0)) }) {
                names.append(match[2])
            }
            for character in text.utf8 {
                if character == UInt8(ascii: "{") { depth += 1 } else if character == UInt8(ascii: "}") { depth -= 1 }
            }
        }
        return names
    }

    /// Every identifier of `code` (comments and strings already blanked), in order, with its line;
    /// a backquoted identifier counts without its backquotes.
    static func identifiers(in code: String) -> [(name: String, line: Int)] {
        func isHead(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || byte == UInt8(ascii: "_")
        }
        func isTail(_ byte: UInt8) -> Bool { isHead(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) }
        let bytes = Array(code.utf8)
        var found: [(String, Int)] = []
        var line = 1, i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") {
                line += 1
                i += 1
            } else if isHead(bytes[i]) && (i == 0 || !isTail(bytes[i - 1])) {
                var end = i + 1
                while end < bytes.count && isTail(bytes[end]) { end += 1 }
                found.append((String(decoding: bytes[i ..< end], as: UTF8.self), line))
                i = end
            } else {
                i += 1
            }
        }
        return found
    }

    /// `source` with comments (line, block, nested block) and string literals (plain, multi-line,
    /// raw) replaced by spaces, newlines kept so line numbers hold. The code inside a string's
    /// interpolations `\(…)` is kept. With `keepStrings`, only comments are blanked.
    static func blankCommentsAndStrings(_ source: String, keepStrings: Bool = false) -> String {
        let bytes = Array(source.utf8)
        var out = bytes
        // What encloses the current position: code (the file itself, or an interpolation with its
        // parenthesis depth), or a string literal with its number of #s and whether it is multi-line.
        enum Context { case code(interpolationDepth: Int?), string(hashes: Int, multiline: Bool) }
        var stack: [Context] = [.code(interpolationDepth: nil)]
        let quote = UInt8(ascii: "\""), hash = UInt8(ascii: "#"), slash = UInt8(ascii: "/"), star = UInt8(ascii: "*")
        let backslash = UInt8(ascii: "\\"), newline = UInt8(ascii: "\n")
        func at(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }
        func blank(_ range: Range<Int>) {
            for index in range where index < bytes.count && bytes[index] != newline { out[index] = UInt8(ascii: " ") }
        }
        func count(_ byte: UInt8, from index: Int) -> Int {
            var end = index
            while at(end) == byte { end += 1 }
            return end - index
        }
        var i = 0
        while i < bytes.count {
            switch stack[stack.count - 1] {
            case .code(let depth):
                let byte = bytes[i]
                if byte == slash && at(i + 1) == slash {
                    let end = bytes[i...].firstIndex(of: newline) ?? bytes.count
                    blank(i ..< end)
                    i = end
                } else if byte == slash && at(i + 1) == star {
                    var nesting = 0, end = i
                    repeat {
                        if at(end) == slash && at(end + 1) == star { nesting += 1; end += 2 }
                        else if at(end) == star && at(end + 1) == slash { nesting -= 1; end += 2 }
                        else { end += 1 }
                    } while nesting > 0 && end < bytes.count
                    blank(i ..< end)
                    i = end
                } else if byte == quote || (byte == hash && at(i + count(hash, from: i)) == quote) {
                    let hashes = count(hash, from: i)
                    let multiline = count(quote, from: i + hashes) >= 3
                    let opening = hashes + (multiline ? 3 : 1)
                    if !keepStrings { blank(i ..< i + opening) }
                    stack.append(.string(hashes: hashes, multiline: multiline))
                    i += opening
                } else if let depth, byte == UInt8(ascii: "(") {
                    stack[stack.count - 1] = .code(interpolationDepth: depth + 1)
                    i += 1
                } else if let depth, byte == UInt8(ascii: ")") {
                    if depth == 0 {
                        if !keepStrings { blank(i ..< i + 1) }
                        stack.removeLast()
                    } else {
                        stack[stack.count - 1] = .code(interpolationDepth: depth - 1)
                    }
                    i += 1
                } else {
                    i += 1
                }
            case .string(let hashes, let multiline):
                let byte = bytes[i]
                if byte == backslash && count(hash, from: i + 1) >= hashes {
                    let next = i + 1 + hashes
                    if at(next) == UInt8(ascii: "(") {
                        if !keepStrings { blank(i ..< next + 1) }
                        stack.append(.code(interpolationDepth: 0))
                        i = next + 1
                    } else {
                        // An escape: the escaped character (a quote, say) cannot end the string.
                        if !keepStrings { blank(i ..< next + 1) }
                        i = next + 1
                    }
                } else if byte == quote && (!multiline || count(quote, from: i) >= 3)
                            && count(hash, from: i + (multiline ? 3 : 1)) >= hashes {
                    let closing = (multiline ? 3 : 1) + hashes
                    if !keepStrings { blank(i ..< i + closing) }
                    stack.removeLast()
                    i += closing
                } else {
                    if !keepStrings { blank(i ..< i + 1) }
                    i += 1
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lines of `text`, numbered from 1.
    private static func lines(_ text: String) -> [(Int, Substring)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { ($0.offset + 1, $0.element) }
    }

    /// `import M`, `@testable import M`, `import struct M.T`, `import M.Sub`: group 1 is `M`.
    private static let importPattern = regex(
        #"^\s*(?:@\w+(?:\([^)]*\))?\s+)*import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func|actor)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#)
    /// A type declaration: group 1 its modifiers, group 2 its name.
    private static let declarationPattern = regex(
        #"^\s*(?:@\w+(?:\([^)]*\))?\s+)*((?:[a-z]+\s+)*)(?:class|struct|enum|protocol|typealias|actor)\s+([A-Za-z_][A-Za-z0-9_]*)"#)
    /// Package.swift's `.systemLibrary(name: "C…"`: group 1 the name.
    private static let systemLibraryPattern = regex(#"\.systemLibrary\(\s*name:\s*"(C[A-Za-z0-9_]*)""#)

    private static func regex(_ pattern: String) -> NSRegularExpression {
        // The patterns are constants of this file: a bad one is a bug here, worth a crash in a test.
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines]) else {
            preconditionFailure("bad pattern \(pattern)")
        }
        return regex
    }

    /// Each match of `regex` in `text`: the whole match, then its groups ("" for a group that did not take part).
    private static func matches(_ regex: NSRegularExpression, in text: some StringProtocol) -> [[String]] {
        let string = String(text)
        return regex.matches(in: string, range: NSRange(string.startIndex..., in: string)).map { match in
            (0 ..< match.numberOfRanges).map { index in
                Range(match.range(at: index), in: string).map { String(string[$0]) } ?? ""
            }
        }
    }
}
