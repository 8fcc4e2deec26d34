import BaleCore
import Foundation
import Yams

/// What `bale sync` reads: skopeo sync's YAML (per source registry: `images`, `images-by-tag-regex`,
/// `images-by-semver`, `tls-verify`, `credentials`, `cert-dir`), or a plain list of references (one a
/// line, `#` comments, blank lines; hauler's and docker users' `images.txt`). Which form it is comes
/// from the content: a list whose every line is one reference is the text form, anything else YAML.
public struct SyncList: Sendable {
    /// One source registry and what to take from it.
    public struct Registry: Sendable {
        /// The host as references name it (`localhost:5000`, `quay.io`).
        public var host: String
        /// `tls-verify: false`: plain HTTP and unverified TLS for this registry. nil: as the flags say.
        public var tlsVerify: Bool?
        public var credential: RegistryCredential?
        /// skopeo's `cert-dir`: the CAs (`*.crt`) and client certificate of this one registry.
        public var certDirectory: String?
        public var selections: [Selection] = []
    }

    /// Which images of one repository.
    public enum Selection: Sendable {
        /// These tags and digests (`sha256:…`); none: every tag.
        case tags(repository: String, [String])
        /// The tags a regular expression finds a match in (unanchored, as skopeo's Go regexp).
        case tagRegex(repository: String, String)
        /// The tags that are versions satisfying the constraint.
        case semver(repository: String, SemverConstraint)
    }

    public var registries: [Registry]
    /// The file, for messages.
    public let path: String

    /// Reads and parses the list at `path`; errors name the file and line.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BaleError(.notFound, "\(path): cannot read the list")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BaleError(.invalidInput, "\(path): not UTF-8 text")
        }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String) throws {
        self.path = path
        registries = Self.isTextForm(text) ? try Self.parseText(text, path: path) : try Self.parseYAML(text, path: path)
    }

    /// Every line blank, a comment, or one word that does not end a YAML key (`name:`).
    static func isTextForm(_ text: String) -> Bool {
        text.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy { raw in
            let line = stripComment(raw).trimmingCharacters(in: .whitespaces)
            return line.isEmpty || (!line.contains(where: \.isWhitespace) && !line.hasSuffix(":")
                                    && !line.hasPrefix("-") && !line.hasPrefix("{") && !line.hasPrefix("["))
        }
    }

    private static func stripComment(_ line: Substring) -> String {
        // `#` starts a comment at the line's start or after a space (a digest holds none).
        if line.hasPrefix("#") { return "" }
        if let range = line.range(of: " #") { return String(line[..<range.lowerBound]) }
        return String(line)
    }

    // MARK: Text form

    private static func parseText(_ text: String, path: String) throws -> [Registry] {
        var registries: [Registry] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = stripComment(raw).trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let reference: Reference
            do {
                reference = try Reference(parsing: line)
            } catch let error as BaleError {
                throw BaleError(.invalidInput, "\(path):\(number + 1): \(error.message)")
            }
            let selection = Selection.tags(repository: reference.path,
                                           [reference.digest?.string ?? reference.tag ?? "latest"])
            if let at = registries.firstIndex(where: { $0.host == reference.domain }) {
                registries[at].selections.append(selection)
            } else {
                registries.append(Registry(host: reference.domain, selections: [selection]))
            }
        }
        return registries
    }

    // MARK: YAML form

    private static func parseYAML(_ text: String, path: String) throws -> [Registry] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw BaleError(.invalidInput, "\(path):\(describe(error))")
        }
        guard let root else { return [] }
        let top = try mapping(root, "the top level", path)
        return try top.map { key, value in
            let host = try string(key, "a registry name", path)
            var registry = Registry(host: host)
            for (field, content) in try mapping(value, "registry \(host)", path) {
                let name = try string(field, "a key of registry \(host)", path)
                switch name {
                case "images":
                    for (repo, list) in try mapping(content, "\(host): images", path) {
                        let repository = try string(repo, "a repository", path)
                        let tags: [String]
                        if case .scalar(let scalar) = list, scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" {
                            tags = []
                        } else {
                            tags = try sequence(list, "\(host): images: \(repository)", path).map { try string($0, "a tag or digest", path) }
                        }
                        for tag in tags where !Reference.isValidTag(tag) && (try? Digest(parsing: tag)) == nil {
                            throw BaleError(.invalidInput, "\(path):\(line(list)): \(host)/\(repository): \"\(tag)\" is neither a tag nor a digest")
                        }
                        registry.selections.append(.tags(repository: repository, tags))
                    }
                case "images-by-tag-regex":
                    for (repo, pattern) in try mapping(content, "\(host): images-by-tag-regex", path) {
                        let repository = try string(repo, "a repository", path)
                        let text = try string(pattern, "a regular expression", path)
                        do {
                            _ = try NSRegularExpression(pattern: text)
                        } catch {
                            throw BaleError(.invalidInput, "\(path):\(line(pattern)): \(host)/\(repository): invalid regular expression \"\(text)\"")
                        }
                        registry.selections.append(.tagRegex(repository: repository, text))
                    }
                case "images-by-semver":
                    for (repo, constraint) in try mapping(content, "\(host): images-by-semver", path) {
                        let repository = try string(repo, "a repository", path)
                        let text = try string(constraint, "a semver constraint", path)
                        do {
                            registry.selections.append(.semver(repository: repository, try SemverConstraint(parsing: text)))
                        } catch let error as BaleError {
                            throw BaleError(.invalidInput, "\(path):\(line(constraint)): \(host)/\(repository): \(error.message)")
                        }
                    }
                case "tls-verify":
                    guard let flag = content.bool else {
                        throw BaleError(.invalidInput, "\(path):\(line(content)): \(host): tls-verify must be true or false")
                    }
                    registry.tlsVerify = flag
                case "credentials":
                    let fields = try mapping(content, "\(host): credentials", path)
                    guard let user = fields["username"]?.string, let password = fields["password"]?.string else {
                        throw BaleError(.invalidInput, "\(path):\(line(content)): \(host): credentials need username and password")
                    }
                    registry.credential = RegistryCredential(username: user, password: password)
                case "cert-dir":
                    registry.certDirectory = try string(content, "\(host): cert-dir", path)
                default:
                    throw BaleError(.invalidInput, "\(path):\(line(field)): \(host): unknown key \"\(name)\" (images, images-by-tag-regex, images-by-semver, tls-verify, credentials, cert-dir)")
                }
            }
            return registry
        }
    }

    private static func line(_ node: Node) -> String { node.mark.map { String($0.line) } ?? "?" }

    private static func mapping(_ node: Node, _ what: String, _ path: String) throws -> Node.Mapping {
        guard let mapping = node.mapping else {
            throw BaleError(.invalidInput, "\(path):\(line(node)): \(what) must be a mapping")
        }
        return mapping
    }

    private static func sequence(_ node: Node, _ what: String, _ path: String) throws -> Node.Sequence {
        guard let sequence = node.sequence else {
            throw BaleError(.invalidInput, "\(path):\(line(node)): \(what) must be a list")
        }
        return sequence
    }

    private static func string(_ node: Node, _ what: String, _ path: String) throws -> String {
        guard case .scalar(let scalar) = node else {
            throw BaleError(.invalidInput, "\(path):\(line(node)): \(what) must be a string")
        }
        return scalar.string
    }

    /// `LINE:COLUMN: problem` from a Yams error.
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return "\(mark.line):\(mark.column): invalid YAML: \(problem)"
        default:
            return " invalid YAML: \(error)"
        }
    }
}
