// TEMPORARY minimal stand-in until the full grammar lands from the `core` branch.
public struct Reference: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let domain: String
    public let path: String
    public let tag: String?
    public let digest: Digest?
    public init(parsing text: String) throws {
        var rest = Substring(text)
        var digest: Digest? = nil
        if let at = rest.firstIndex(of: "@") { digest = try Digest(parsing: String(rest[rest.index(after: at)...])); rest = rest[..<at] }
        var tag: String? = nil
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") { tag = String(rest[rest.index(after: colon)...]); rest = rest[..<colon] }
        guard !rest.isEmpty, rest.lowercased() == rest, !rest.contains(":") || rest.contains("/") else {
            throw BaleError(.invalidReference, "invalid reference \"\(text)\": invalid reference format")
        }
        var parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 1 || !(parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost") { parts = ["docker.io", String(rest)] }
        var path = parts[1]
        if parts[0] == "docker.io" && !path.contains("/") { path = "library/" + path }
        self.init(domain: parts[0], path: path, tag: tag, digest: digest)
    }
    public init(domain: String, path: String, tag: String?, digest: Digest?) { self.domain = domain; self.path = path; self.tag = tag; self.digest = digest }
    public var name: String { domain + "/" + path }
    public var string: String { name + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.string } ?? "") }
    public var description: String { string }
    public var familiarName: String {
        guard domain == "docker.io" else { return name }
        return path.hasPrefix("library/") && path.split(separator: "/").count == 2 ? String(path.dropFirst(8)) : path
    }
    public var familiar: String { familiarName + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.string } ?? "") }
    public func withDefaultTag() -> Reference { tag == nil && digest == nil ? Reference(domain: domain, path: path, tag: "latest", digest: nil) : self }
    public func withTag(_ tag: String) throws -> Reference { Reference(domain: domain, path: path, tag: tag, digest: nil) }
    public static func isValidTag(_ tag: String) -> Bool { !tag.isEmpty && tag.count <= 128 }
    public static func < (a: Reference, b: Reference) -> Bool { a.string < b.string }
}
