import BaleCore
import Foundation

/// Validation and lexical resolution of archive member names, the first line of defence of every
/// extraction and flattening (DESIGN §7, FORMATS §5: CVE-2014-6407, -9356).
///
/// Everything here is lexical: it never touches the file system. A cleaned path is relative to the
/// extraction root, uses single `/` separators and has no `.`, `..` or empty component; `""` is the root
/// itself. Whether a component on disk is a symlink is the extractor's business (it must not write
/// through links taken from the input); a `..` after a component is resolved lexically here, as moby
/// and Go's `filepath.Clean` do.
public enum SafePath {
    /// Cleans a member name: strips leading `./`, collapses `//`, drops `.` components and a trailing
    /// `/`, resolves `..` lexically. Returns `""` for the root (`.`, `./`).
    ///
    /// Throws `.invalidInput` naming the member for: an empty name, a NUL byte, an absolute name (unless
    /// `allowAbsolute`, which strips the leading `/` as moby does for layer entries), or a `..` that climbs
    /// above the root.
    public static func clean(_ name: String, allowAbsolute: Bool = false) throws -> String {
        // Nearly every member of a real layer is already clean, at most with a directory's trailing "/":
        // one scan of the bytes says so, and the name is kept as it is (this runs once per member).
        switch scan(name.utf8) {
        case .clean: return name
        case .cleanWithTrailingSlash: return String(name.utf8.dropLast()) ?? name
        case .needsWork: break
        }
        guard !name.isEmpty else {
            throw BaleError(.invalidInput, "member \"\": empty name")
        }
        guard !name.utf8.contains(0) else {
            throw BaleError(.invalidInput, "member \(quoted(name)): name contains a NUL byte")
        }
        if name.utf8.first == UInt8(ascii: "/") && !allowAbsolute {
            throw BaleError(.invalidInput, "member \(quoted(name)): absolute path")
        }
        guard let components = resolve(components(name)) else {
            throw BaleError(.invalidInput,
                            "member \(quoted(name)): path escapes the archive root (\"..\" climbs above it)")
        }
        return components.joined(separator: "/")
    }

    /// Resolves the target of an in-archive symlink at `memberPath`, relative to the link's directory, to
    /// a cleaned root-relative path (e.g. `a/layer.tar` → `../b/layer.tar` gives `b/layer.tar`).
    ///
    /// Throws `.invalidInput` if the target is empty, contains NUL, is absolute (unless `allowAbsolute`:
    /// then it is read relative to the root, as CVE-2014-9356 requires for image trees) or climbs above
    /// the root. Only this one link is resolved; a chain of links needs one call per link.
    public static func resolveInArchive(linkTarget: String, from memberPath: String,
                                        allowAbsolute: Bool = false) throws -> String {
        let link = try clean(memberPath, allowAbsolute: allowAbsolute)
        guard !linkTarget.isEmpty else {
            throw BaleError(.invalidInput, "member \(quoted(memberPath)): empty link target")
        }
        guard !linkTarget.utf8.contains(0) else {
            throw BaleError(.invalidInput, "member \(quoted(memberPath)): link target contains a NUL byte")
        }
        var components: [Substring]
        if linkTarget.utf8.first == UInt8(ascii: "/") {
            guard allowAbsolute else {
                throw BaleError(.invalidInput,
                                "member \(quoted(memberPath)): absolute link target \(quoted(linkTarget))")
            }
            components = []
        } else {
            components = Array(Self.components(link).dropLast())
        }
        components += Self.components(linkTarget)
        guard let resolved = resolve(components) else {
            throw BaleError(.invalidInput,
                            "member \(quoted(memberPath)): link target \(quoted(linkTarget)) escapes the archive root")
        }
        return resolved.joined(separator: "/")
    }

    private enum Scan { case clean, cleanWithTrailingSlash, needsWork }

    /// Whether `bytes` is a clean relative path: no NUL, no leading `/`, no empty, `.` or `..`
    /// component (one trailing `/` aside).
    private static func scan(_ bytes: String.UTF8View) -> Scan {
        var length = 0      // of the current component
        var dots = 0        // how many of its bytes are "."
        var last: UInt8 = 0
        for byte in bytes {
            switch byte {
            case 0: return .needsWork
            case UInt8(ascii: "/"):
                if length == 0 || dots == length && length <= 2 { return .needsWork }
                length = 0
                dots = 0
            case UInt8(ascii: "."):
                length += 1
                dots += 1
            default:
                length += 1
            }
            last = byte
        }
        if last == UInt8(ascii: "/") { return .cleanWithTrailingSlash }   // the component before it was checked
        if length == 0 || dots == length && length <= 2 { return .needsWork }
        return .clean
    }

    /// The non-empty "/"-separated components of `text`, split on the byte as the file system does:
    /// Swift's Character-wise split keeps a "/" followed by a combining mark (U+0338) inside one
    /// component, which would hide a ".." from `resolve`.
    private static func components(_ text: String) -> [Substring] {
        text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { Substring($0) }
    }

    /// Applies `.` and `..` to `components` (compared as bytes, not as canonically equivalent text);
    /// `nil` when a `..` climbs above the start.
    private static func resolve(_ components: [Substring]) -> [Substring]? {
        var stack: [Substring] = []
        for component in components {
            if component.utf8.isEmpty || component.utf8.elementsEqual(".".utf8) { continue }
            if component.utf8.elementsEqual("..".utf8) {
                guard stack.popLast() != nil else { return nil }
            } else {
                stack.append(component)
            }
        }
        return stack
    }

    /// A name in double quotes with control characters escaped, safe for a one-line message.
    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                out += String(format: "\\x%02x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
