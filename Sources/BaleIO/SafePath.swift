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
    /// `/`, resolves `..` lexically. Returns `""` for the root (`.`, `./`). Works on the bytes: a name
    /// that is not UTF-8 is cleaned like any other and comes back unchanged apart from the above.
    ///
    /// Throws `.invalidInput` naming the member for: an empty name, a NUL byte, an absolute name (unless
    /// `allowAbsolute`, which strips the leading `/` as moby does for layer entries), or a `..` that climbs
    /// above the root.
    public static func clean(_ name: RawPath, allowAbsolute: Bool = false) throws -> RawPath {
        // Nearly every member of a real layer is already clean, at most with a directory's trailing "/":
        // one scan of the bytes says so, and the name is kept as it is (this runs once per member).
        switch scan(name.bytes) {
        case .clean: return name
        case .cleanWithTrailingSlash: return RawPath(Array(name.bytes.dropLast()))
        case .needsWork: break
        }
        guard !name.isEmpty else {
            throw BaleError(.invalidInput, "member \"\": empty name")
        }
        guard !name.containsNUL else {
            throw BaleError(.invalidInput, "member \(name.quoted): name contains a NUL byte")
        }
        if name.bytes.first == UInt8(ascii: "/") && !allowAbsolute {
            throw BaleError(.invalidInput, "member \(name.quoted): absolute path")
        }
        guard let components = resolve(components(name.bytes)) else {
            throw BaleError(.invalidInput,
                            "member \(name.quoted): path escapes the archive root (\"..\" climbs above it)")
        }
        return join(components)
    }

    /// `clean` for a name that is text (a path inside a JSON document).
    public static func clean(_ name: String, allowAbsolute: Bool = false) throws -> String {
        // The result is the input's UTF-8 less some whole components and separators: still UTF-8.
        String(decoding: try clean(RawPath(name), allowAbsolute: allowAbsolute).bytes, as: UTF8.self)
    }

    /// Resolves the target of an in-archive symlink at `memberPath`, relative to the link's directory, to
    /// a cleaned root-relative path (e.g. `a/layer.tar` → `../b/layer.tar` gives `b/layer.tar`).
    ///
    /// Throws `.invalidInput` if the target is empty, contains NUL, is absolute (unless `allowAbsolute`:
    /// then it is read relative to the root, as CVE-2014-9356 requires for image trees) or climbs above
    /// the root. Only this one link is resolved; a chain of links needs one call per link.
    public static func resolveInArchive(linkTarget: RawPath, from memberPath: RawPath,
                                        allowAbsolute: Bool = false) throws -> RawPath {
        let link = try clean(memberPath, allowAbsolute: allowAbsolute)
        guard !linkTarget.isEmpty else {
            throw BaleError(.invalidInput, "member \(memberPath.quoted): empty link target")
        }
        guard !linkTarget.containsNUL else {
            throw BaleError(.invalidInput, "member \(memberPath.quoted): link target contains a NUL byte")
        }
        var components: [ArraySlice<UInt8>]
        if linkTarget.bytes.first == UInt8(ascii: "/") {
            guard allowAbsolute else {
                throw BaleError(.invalidInput,
                                "member \(memberPath.quoted): absolute link target \(linkTarget.quoted)")
            }
            components = []
        } else {
            components = Array(Self.components(link.bytes).dropLast())
        }
        components += Self.components(linkTarget.bytes)
        guard let resolved = resolve(components) else {
            throw BaleError(.invalidInput,
                            "member \(memberPath.quoted): link target \(linkTarget.quoted) escapes the archive root")
        }
        return join(resolved)
    }

    /// `resolveInArchive` for names that are text (paths inside JSON documents).
    public static func resolveInArchive(linkTarget: String, from memberPath: String,
                                        allowAbsolute: Bool = false) throws -> String {
        let resolved = try resolveInArchive(linkTarget: RawPath(linkTarget), from: RawPath(memberPath),
                                            allowAbsolute: allowAbsolute)
        return String(decoding: resolved.bytes, as: UTF8.self)
    }

    private enum Scan { case clean, cleanWithTrailingSlash, needsWork }

    /// Whether `bytes` is a clean relative path: no NUL, no leading `/`, no empty, `.` or `..`
    /// component (one trailing `/` aside).
    private static func scan(_ bytes: [UInt8]) -> Scan {
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

    /// The non-empty "/"-separated components of `bytes`, split on the byte as the file system does
    /// (a character-wise split of a String would keep a "/" followed by a combining mark, U+0338, inside
    /// one component, and so hide a ".." from `resolve`).
    private static func components(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    }

    /// Applies `.` and `..` to `components` (compared as bytes); `nil` when a `..` climbs above the start.
    private static func resolve(_ components: [ArraySlice<UInt8>]) -> [ArraySlice<UInt8>]? {
        var stack: [ArraySlice<UInt8>] = []
        for component in components {
            if component.isEmpty || component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard stack.popLast() != nil else { return nil }
            } else {
                stack.append(component)
            }
        }
        return stack
    }

    /// `components` joined with single "/".
    private static func join(_ components: [ArraySlice<UInt8>]) -> RawPath {
        RawPath(Array(components.joined(separator: [UInt8(ascii: "/")])))
    }
}
