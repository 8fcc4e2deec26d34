/// An image reference `[domain/]path[:tag][@digest]`, parsed with the grammar of distribution/reference
/// (reference.go, regexp.go) and normalised as docker's `ParseNormalizedNamed` (normalize.go), FORMATS.md
/// section 6:
///
/// ```
/// reference := name [":" tag] ["@" digest]      name := [domain "/"] path
/// domain    := (dns-name | "[" ipv6 "]") [":" port]      dns-name := label ("." label)*
/// label     := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]     ipv6 := [a-fA-F0-9:]+
/// path      := comp ("/" comp)*                 comp := [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*
/// tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
/// digest    := alg ":" hex   (then strictly: sha256:<64 lowercase hex>; sha512 is refused as unsupported)
/// ```
///
/// The scanner below is hand-written but follows the regular expressions exactly, including their
/// leftmost-first choice: the first path element is a domain only when it matches the domain rule and
/// the rest matches the path rule.
public struct Reference: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The registry host with optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. Empty only in
    /// the corner case where docker's domain guess does not match the domain grammar (`foo_bar.com/x`),
    /// where the whole name is the path, as in distribution/reference.
    public let domain: String
    /// The repository path inside the registry: `library/busybox`.
    public let path: String
    /// The tag, when one was given.
    public let tag: String?
    /// The digest, when one was given.
    public let digest: Digest?

    /// The maximum length of `path` (distribution/reference `RepositoryNameTotalLengthMax`; since v0.6.0
    /// the domain does not count).
    public static let maxPathLength = 255

    static let defaultDomain = "docker.io"
    static let legacyDefaultDomain = "index.docker.io"
    static let officialRepoPrefix = "library/"
    static let defaultTag = "latest"

    /// Parses and normalises like docker's `ParseNormalizedNamed`: a bare name becomes
    /// `docker.io/library/NAME`, `index.docker.io` becomes `docker.io`; tag and digest are kept as given
    /// (no default tag is added here, see `withDefaultTag()`).
    ///
    /// Throws `BaleError(.invalidReference, "invalid reference \"X\": <reason>")`, with the reasons
    /// distribution/reference gives ("invalid reference format", "repository name must be lowercase", …).
    /// A bare 64-hex string is refused as a name: it reads as an image ID.
    public init(parsing text: String) throws {
        func fail(_ reason: String) -> BaleError {
            BaleError(.invalidReference, "invalid reference \"\(text)\": \(reason)")
        }
        if Digest.isLowerHex(text, length: 64) {
            throw fail("invalid repository name (\(text)), cannot specify 64-byte hexadecimal strings")
        }
        let (guessedDomain, remainder) = Reference.splitDockerDomain(text)
        // The repository part (before any tag) must be lowercase; docker checks this before the grammar
        // so the message names the culprit.
        let remote = remainder.firstIndex(of: ":").map { String(remainder[..<$0]) } ?? remainder
        if remote.lowercased() != remote {
            throw fail("invalid reference format: repository name (\(remote)) must be lowercase")
        }
        // The guess may still fail the domain grammar; then the strict parse decides (see `domain`).
        switch Reference.scan(guessedDomain + "/" + remainder) {
        case .failure(let failure):
            throw fail(failure.reason)
        case .success(let parts):
            var digest: Digest?
            if let digestText = parts.digest {
                do {
                    digest = try Digest(parsing: digestText)
                } catch let error as BaleError {
                    throw fail(error.message)
                }
            }
            self.init(domain: parts.domain, path: parts.path, tag: parts.tag, digest: digest)
        }
    }

    /// A reference from its parts, as given: only cheap checks belong to the caller.
    public init(domain: String, path: String, tag: String?, digest: Digest?) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// `domain/path` (just `path` when the domain is empty).
    public var name: String { domain.isEmpty ? path : domain + "/" + path }

    /// The full normalised form `name[:tag][@digest]`.
    public var string: String { Reference.render(name, tag, digest) }

    /// Same as `string`.
    public var description: String { string }

    /// The name as docker shows it: without `docker.io/`, and without `library/` when one component
    /// remains (`docker.io/library/redis` → `redis`, `docker.io/library/a/b` stays `library/a/b`).
    public var familiarName: String {
        guard domain == Reference.defaultDomain else { return name }
        if path.hasPrefix(Reference.officialRepoPrefix) {
            let rest = path.dropFirst(Reference.officialRepoPrefix.count)
            if !rest.contains("/") { return String(rest) }
        }
        return path
    }

    /// `familiarName[:tag][@digest]`, as docker prints references.
    public var familiar: String { Reference.render(familiarName, tag, digest) }

    /// This reference with the tag `latest` when it has neither tag nor digest (docker's `TagNameOnly`).
    public func withDefaultTag() -> Reference {
        guard tag == nil, digest == nil else { return self }
        return Reference(domain: domain, path: path, tag: Reference.defaultTag, digest: nil)
    }

    /// The same name with `tag` in place of any tag or digest; throws `invalidReference` for a bad tag.
    public func withTag(_ tag: String) throws -> Reference {
        guard Reference.isValidTag(tag) else {
            throw BaleError(.invalidReference, "invalid tag \"\(tag)\": invalid tag format")
        }
        return Reference(domain: domain, path: path, tag: tag, digest: nil)
    }

    /// Whether `tag` matches `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    public static func isValidTag(_ tag: String) -> Bool {
        isTag(Array(tag.utf8)[...])
    }

    /// Orders by `string`.
    public static func < (a: Reference, b: Reference) -> Bool { a.string < b.string }

    private static func render(_ name: String, _ tag: String?, _ digest: Digest?) -> String {
        var s = name
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.string }
        return s
    }
}

// MARK: - Normalisation (normalize.go)

extension Reference {
    /// docker's `splitDockerDomain`: guesses whether the text before the first `/` is a registry host.
    /// Works on the whole input, tag and digest included.
    static func splitDockerDomain(_ name: String) -> (domain: String, remainder: String) {
        guard let slash = name.firstIndex(of: "/") else {
            // A single element ("ubuntu", "ubuntu:latest", even "example.com") is an official image.
            return (defaultDomain, officialRepoPrefix + name)
        }
        let first = String(name[..<slash])
        let rest = String(name[name.index(after: slash)...])
        var domain: String
        var remainder: String
        if first == "localhost" {
            (domain, remainder) = (first, rest)
        } else if first == legacyDefaultDomain {
            (domain, remainder) = (defaultDomain, rest)
        } else if first.contains(".") || first.contains(":") {
            (domain, remainder) = (first, rest)
        } else if first.lowercased() != first {
            // Uppercase is not allowed in a path, so an uppercase first element must be a host.
            (domain, remainder) = (first, rest)
        } else {
            (domain, remainder) = (defaultDomain, name)
        }
        if domain == defaultDomain && !remainder.contains("/") {
            remainder = officialRepoPrefix + remainder
        }
        return (domain, remainder)
    }
}

// MARK: - Grammar (reference.go `Parse`, regexp.go)

extension Reference {
    struct Parts: Equatable {
        var domain: String
        var path: String
        var tag: String?
        /// The digest text, matched by the loose grammar only; `Digest(parsing:)` is the strict check.
        var digest: String?
    }

    struct Failure: Error, Equatable {
        var reason: String
        static let empty = Failure(reason: "repository name must have at least one component")
        static let format = Failure(reason: "invalid reference format")
        static let uppercase = Failure(reason: "repository name must be lowercase")
        static let tooLong = Failure(reason: "repository name must not be more than \(maxPathLength) characters")
    }

    /// distribution/reference `Parse`: the strict grammar, no normalisation.
    static func scan(_ text: String) -> Result<Parts, Failure> {
        if text.isEmpty { return .failure(.empty) }
        guard let parts = match(Array(text.utf8)) else {
            // Tell "wrong case" apart from "wrong shape", as distribution/reference does.
            let lower = text.lowercased()
            if lower != text, match(Array(lower.utf8)) != nil { return .failure(.uppercase) }
            return .failure(.format)
        }
        if parts.path.utf8.count > maxPathLength { return .failure(.tooLong) }
        return .success(parts)
    }

    private typealias Bytes = ArraySlice<UInt8>

    /// Matches the whole reference. Neither name nor tag may hold `@`, so the digest starts at the first
    /// `@`; neither path nor tag may hold `:`, so a `:` after the last `/` starts the tag.
    private static func match(_ bytes: [UInt8]) -> Parts? {
        var nameAndTag = bytes[...]
        var digest: Bytes?
        if let at = bytes.firstIndex(of: UInt8(ascii: "@")) {
            nameAndTag = bytes[..<at]
            digest = bytes[(at + 1)...]
        }
        var nameBytes = nameAndTag
        var tag: Bytes?
        let lastSlash = nameAndTag.lastIndex(of: UInt8(ascii: "/"))
        let tail = lastSlash.map { nameAndTag[($0 + 1)...] } ?? nameAndTag
        if let colon = tail.firstIndex(of: UInt8(ascii: ":")) {
            nameBytes = nameAndTag[..<colon]
            tag = nameAndTag[(colon + 1)...]
        }
        if let tag, !isTag(tag) { return nil }
        if let digest, !isDigest(digest) { return nil }
        guard let (domain, path) = splitName(nameBytes) else { return nil }
        return Parts(domain: decode(domain), path: decode(path), tag: tag.map(decode), digest: digest.map(decode))
    }

    private static func decode(_ bytes: Bytes) -> String { String(decoding: bytes, as: UTF8.self) }

    /// `[domain "/"] path`, preferring a domain when both readings match (the regexp's optional group is
    /// greedy). A domain never holds `/`, so it can only be the first element.
    private static func splitName(_ name: Bytes) -> (Bytes, Bytes)? {
        if let slash = name.firstIndex(of: UInt8(ascii: "/")) {
            let first = name[..<slash]
            let rest = name[(slash + 1)...]
            if isDomain(first) && isPath(rest) { return (first, rest) }
        }
        return isPath(name) ? (name[name.startIndex..<name.startIndex], name) : nil
    }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || isDigit(c)
    }
    private static func isDigit(_ c: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }
    private static func isLetter(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
    }
    private static func isAlnum(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) }
    private static func isHex(_ c: UInt8) -> Bool {
        isDigit(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
    }
    private static func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") }

    /// `comp ("/" comp)*`.
    private static func isPath(_ s: Bytes) -> Bool {
        s.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).allSatisfy(isPathComponent)
    }

    /// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`.
    private static func isPathComponent(_ s: Bytes) -> Bool {
        var i = s.startIndex
        func alnumRun() -> Bool {
            let start = i
            while i < s.endIndex, isLowerAlnum(s[i]) { i += 1 }
            return i > start
        }
        guard alnumRun() else { return false }
        while i < s.endIndex {
            switch s[i] {
            case UInt8(ascii: "."):
                i += 1
            case UInt8(ascii: "_"):
                i += 1
                if i < s.endIndex, s[i] == UInt8(ascii: "_") { i += 1 }
            case UInt8(ascii: "-"):
                while i < s.endIndex, s[i] == UInt8(ascii: "-") { i += 1 }
            default:
                return false
            }
            guard alnumRun() else { return false }
        }
        return true
    }

    /// `(dns-name | "[" [a-fA-F0-9:]+ "]") (":" [0-9]+)?`.
    private static func isDomain(_ s: Bytes) -> Bool {
        var host = s
        var port: Bytes?
        if s.first == UInt8(ascii: "[") {
            guard let close = s.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inside = s[(s.startIndex + 1)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") }) else { return false }
            let after = s[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { return false }
                port = after.dropFirst()
            }
            host = s[s.startIndex...close]
        } else {
            if let colon = s.firstIndex(of: UInt8(ascii: ":")) {
                host = s[..<colon]
                port = s[(colon + 1)...]
            }
            let labels = host.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard labels.allSatisfy(isDNSLabel) else { return false }
        }
        if let port {
            guard !port.isEmpty, port.allSatisfy(isDigit) else { return false }
        }
        return true
    }

    /// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
    private static func isDNSLabel(_ s: Bytes) -> Bool {
        guard let first = s.first, let last = s.last, isAlnum(first), isAlnum(last) else { return false }
        return s.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// `[\w][\w.-]{0,127}`.
    private static func isTag(_ s: Bytes) -> Bool {
        guard let first = s.first, isWord(first), s.count <= 128 else { return false }
        return s.allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,}`.
    private static func isDigest(_ s: Bytes) -> Bool {
        guard let colon = s.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let hex = s[(colon + 1)...]
        guard hex.count >= 32, hex.allSatisfy(isHex) else { return false }
        var expectLetter = true
        for c in s[..<colon] {
            if expectLetter {
                guard isLetter(c) else { return false }
                expectLetter = false
            } else if c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: "+")
                        || c == UInt8(ascii: ".") {
                expectLetter = true
            } else if !isAlnum(c) {
                return false
            }
        }
        return !expectLetter
    }
}
