import BaleCore
import Foundation
// mxcl/Version predates Sendable; its Version is a struct of integers and strings.
@preconcurrency import Version

/// A semantic-version constraint as skopeo's `images-by-semver` takes it (Masterminds/semver's
/// syntax, which is npm's): comparators `=`, `!=`, `>`, `>=`, `<`, `<=`, `^` (same leftmost non-zero
/// part), `~` (same minor, or same major when only a major is given), x-ranges (`1.2.x`, `1.*`, `*`, a
/// partial version such as `1.2`), hyphen ranges (`1.2 - 1.4.5`); comparators joined by commas or
/// spaces must all hold, `||` joins alternatives. Versions are parsed tolerantly (mxcl/Version:
/// `v1.2`, `3.12`); a pre-release version matches only a constraint that names a pre-release.
public struct SemverConstraint: Sendable, CustomStringConvertible {
    /// One primitive comparison.
    struct Comparison: Sendable {
        enum Operator: Sendable { case equal, notEqual, greater, greaterOrEqual, less, lessOrEqual }
        var op: Operator
        var version: Version

        func holds(_ v: Version) -> Bool {
            switch op {
            case .equal: return v == version
            case .notEqual: return v != version
            case .greater: return v > version
            case .greaterOrEqual: return v >= version
            case .less: return v < version
            case .lessOrEqual: return v <= version
            }
        }
    }

    public let description: String
    /// Alternatives (`||`), each a list of comparisons that must all hold.
    let alternatives: [[Comparison]]
    let allowsPrerelease: Bool

    /// Parses `text`; a clear error names what is wrong.
    public init(parsing text: String) throws {
        description = text
        let groups = text.components(separatedBy: "||").map { $0.trimmingCharacters(in: .whitespaces) }
        alternatives = try groups.map { try Self.parseGroup($0, whole: text) }
        allowsPrerelease = alternatives.joined().contains { !$0.version.prereleaseIdentifiers.isEmpty }
    }

    /// Whether a tag, read as a version, satisfies the constraint; a tag that is no version never does.
    public func matches(tag: String) -> Bool {
        guard let version = Version(tolerant: tag) else { return false }
        return matches(version)
    }

    func matches(_ version: Version) -> Bool {
        if !version.prereleaseIdentifiers.isEmpty && !allowsPrerelease { return false }
        return alternatives.contains { group in group.allSatisfy { $0.holds(version) } }
    }

    // MARK: Parsing

    /// A version as written, each part a number or missing (x, X, * or absent).
    private struct Partial {
        var parts: [Int?]          // major, minor, patch
        var pre: [String]

        var major: Int { parts[0] ?? 0 }
        var minor: Int { parts[1] ?? 0 }
        var patch: Int { parts[2] ?? 0 }
        /// How many leading parts are given.
        var given: Int { parts.firstIndex(where: { $0 == nil }) ?? 3 }
        var floor: Version { Version(major, minor, patch, pre: given == 3 ? pre : []) }
    }

    private static func parseGroup(_ group: String, whole: String) throws -> [Comparison] {
        guard !group.isEmpty else { throw BaleError(.usage, "semver constraint \"\(whole)\": an empty alternative") }
        // A hyphen range: `A - B`.
        let hyphen = group.components(separatedBy: " - ")
        if hyphen.count == 2 {
            let low = try partial(hyphen[0].trimmingCharacters(in: .whitespaces), whole: whole)
            let high = try partial(hyphen[1].trimmingCharacters(in: .whitespaces), whole: whole)
            return [Comparison(op: .greaterOrEqual, version: low.floor)] + upper(inclusive: high)
        }
        // Comparators: an operator, optional spaces, a version; separated by commas or spaces.
        var comparisons: [Comparison] = []
        var rest = Substring(group)
        while true {
            rest = rest.drop { $0 == " " || $0 == "," || $0 == "\t" }
            guard !rest.isEmpty else { break }
            let op = ["!=", ">=", "<=", "~>", ">", "<", "=", "^", "~"].first { rest.hasPrefix($0) } ?? ""
            rest = rest.dropFirst(op.count).drop { $0 == " " }
            let token = rest.prefix { $0 != " " && $0 != "," && $0 != "\t" }
            guard !token.isEmpty else {
                throw BaleError(.usage, "semver constraint \"\(whole)\": \"\(op)\" needs a version")
            }
            rest = rest.dropFirst(token.count)
            comparisons += try expand(op, try partial(String(token), whole: whole))
        }
        return comparisons
    }

    private static func partial(_ text: String, whole: String) throws -> Partial {
        var body = Substring(text)
        if body.first == "v" || body.first == "V" { body = body.dropFirst() }
        if let plus = body.firstIndex(of: "+") { body = body[..<plus] }   // build metadata is ignored
        var pre: [String] = []
        if let dash = body.firstIndex(of: "-") {
            pre = body[body.index(after: dash)...].split(separator: ".").map(String.init)
            body = body[..<dash]
        }
        let fields = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(fields.count) else {
            throw BaleError(.usage, "semver constraint \"\(whole)\": \"\(text)\" is not a version")
        }
        var parts: [Int?] = []
        for field in fields {
            if ["x", "X", "*"].contains(field) {
                parts.append(nil)
            } else if let n = Int(field), n >= 0, parts.last != .some(nil) {
                parts.append(n)
            } else {
                throw BaleError(.usage, "semver constraint \"\(whole)\": \"\(text)\" is not a version")
            }
        }
        while parts.count < 3 { parts.append(nil) }
        return Partial(parts: parts, pre: pre)
    }

    /// The primitive comparisons one operator and (possibly partial) version stand for.
    private static func expand(_ op: String, _ v: Partial) throws -> [Comparison] {
        let given = v.given
        switch op {
        case "", "=":
            if given == 3 { return [Comparison(op: .equal, version: v.floor)] }
            if given == 0 { return [] }                                    // `*`: anything
            return [Comparison(op: .greaterOrEqual, version: v.floor)] + upper(inclusive: v)
        case "!=":
            if given == 3 { return [Comparison(op: .notEqual, version: v.floor)] }
            throw BaleError(.usage, "semver constraint: != takes a full version, not \(v.parts.map { $0.map(String.init) ?? "x" }.joined(separator: "."))")
        case ">=":
            return [Comparison(op: .greaterOrEqual, version: v.floor)]
        case ">":
            // `>1.2` is `>=1.3.0`; `>1.2.3` is itself.
            if given == 3 { return [Comparison(op: .greater, version: v.floor)] }
            if given == 0 { return [Comparison(op: .less, version: Version(0, 0, 0))] }  // nothing
            return [Comparison(op: .greaterOrEqual, version: bump(v, at: given - 1))]
        case "<":
            return [Comparison(op: .less, version: v.floor)]
        case "<=":
            return upper(inclusive: v)
        case "~", "~>":
            // Patch-level changes; `~1` allows minor ones.
            let ceiling = given <= 1 ? Version(v.major + 1, 0, 0) : Version(v.major, v.minor + 1, 0)
            return [Comparison(op: .greaterOrEqual, version: v.floor), Comparison(op: .less, version: ceiling)]
        case "^":
            // The leftmost non-zero part (among those given) stays.
            let ceiling: Version
            if v.major > 0 || given <= 1 {
                ceiling = Version(v.major + 1, 0, 0)
            } else if v.minor > 0 || given == 2 {
                ceiling = Version(0, v.minor + 1, 0)
            } else {
                ceiling = Version(0, 0, v.patch + 1)
            }
            return [Comparison(op: .greaterOrEqual, version: v.floor), Comparison(op: .less, version: ceiling)]
        default:
            throw BaleError(.internal, "semver operator \(op)")
        }
    }

    /// `<= v` for a possibly partial `v`: `<=1.2` is `<1.3.0`.
    private static func upper(inclusive v: Partial) -> [Comparison] {
        switch v.given {
        case 3: return [Comparison(op: .lessOrEqual, version: v.floor)]
        case 0: return []
        default: return [Comparison(op: .less, version: bump(v, at: v.given - 1))]
        }
    }

    /// The version with part `at` increased by one and the later parts zero.
    private static func bump(_ v: Partial, at: Int) -> Version {
        at == 0 ? Version(v.major + 1, 0, 0) : Version(v.major, v.minor + 1, 0)
    }
}
