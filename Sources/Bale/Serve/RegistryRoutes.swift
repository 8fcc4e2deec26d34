import BaleCore
import Foundation

/// The Distribution API v2 read side (distribution/distribution docs/spec/api.md, OCI distribution-spec
/// 1.1), as a pure function from a request to a response, so it is tested without a socket:
///
/// ```
/// GET      /v2/                                   200 {} (ping)
/// GET/HEAD /v2/<name>/manifests/<tag|digest>      the original bytes; Content-Type = the media type
/// GET/HEAD /v2/<name>/blobs/<digest>              the bytes, Range → 206 (one range) or 416
/// GET      /v2/<name>/tags/list?n=&last=          {"name","tags"}, Link: <…>; rel="next"
/// GET      /v2/_catalog?n=&last=                  {"repositories"}, Link likewise
/// GET      /v2/<name>/referrers/<digest>          an OCI index of the manifests whose subject it is
///                                                 (?artifactType= filters; OCI-Filters-Applied says so)
/// anything else with POST/PUT/PATCH/DELETE        405 UNSUPPORTED: this registry is read-only
/// ```
///
/// Errors are `{"errors":[{"code","message","detail"}]}` with the spec's codes. A manifest is never
/// converted: a client whose `Accept` leaves out the stored type gets MANIFEST_UNKNOWN, because a
/// conversion would change the digest (and break pulls by digest and signatures).
public struct RegistryRoutes: Sendable {
    /// A request, as far as routing needs it.
    public struct Request: Sendable {
        public var method: String
        /// The request target: path and query, percent-encoded as sent.
        public var uri: String
        /// Every `Accept` header value (each may list several types).
        public var accept: [String]
        public var range: String?
        public init(method: String, uri: String, accept: [String] = [], range: String? = nil) {
            self.method = method
            self.uri = uri
            self.accept = accept
            self.range = range
        }
    }

    /// What to send back.
    public struct Response: Sendable {
        public enum Body: Sendable {
            case none
            case bytes(Data)
            /// Part of a file (a blob file, or an archive member): sent with sendfile or in chunks.
            case file(FileRegion)
        }
        public var status: Int
        public var headers: [(String, String)]
        public var body: Body
        /// The bytes the body carries (for HEAD, what GET would have sent is in Content-Length only).
        public var bodyLength: Int64 {
            switch body {
            case .none: 0
            case .bytes(let data): Int64(data.count)
            case .file(let region): region.length
            }
        }
    }

    public let content: ServedContent
    public init(content: ServedContent) { self.content = content }

    public func answer(_ request: Request) -> Response {
        let (path, query) = Self.split(request.uri)
        guard path == "/v2" || path.hasPrefix("/v2/") else {
            return error(404, "NOT_FOUND", "not a registry API path", detail: path)
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            return error(405, "UNSUPPORTED", "bale serve is read-only: \(request.method) is not supported",
                         detail: path, extra: [("Allow", "GET, HEAD")])
        }
        let head = request.method == "HEAD"
        var components = path.dropFirst("/v2".count).split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if components.isEmpty {
            return json(200, Data("{}".utf8), head: head)
        }
        if components == ["_catalog"] {
            return page(content.names, query: query, path: "/v2/_catalog", head: head) { ["repositories": $0] }
        }
        guard components.count >= 3 else { return error(404, "NOT_FOUND", "unknown API path", detail: path) }
        let last = components.removeLast()
        let kind = components.removeLast()
        let name = components.joined(separator: "/")
        switch (kind, last) {
        case ("tags", "list"):
            guard let repository = content.repository(name) else { return nameUnknown(name) }
            return page(repository.tags.keys.sorted(), query: query, path: "/v2/\(name)/tags/list", head: head) {
                ["name": name as Any, "tags": $0]
            }
        case ("manifests", _):
            guard let repository = content.repository(name) else { return nameUnknown(name) }
            return manifest(last, in: repository, name: name, accept: request.accept, head: head)
        case ("blobs", _):
            guard let repository = content.repository(name) else { return nameUnknown(name) }
            guard let digest = try? Digest(parsing: last) else {
                return error(400, "DIGEST_INVALID", "\(last) is not a digest", detail: last)
            }
            guard let region = repository.blobs[digest] else {
                return error(404, "BLOB_UNKNOWN", "blob unknown to registry", detail: digest.description)
            }
            return blob(region, digest: digest, range: request.range, head: head)
        case ("referrers", _):
            guard let repository = content.repository(name) else { return nameUnknown(name) }
            guard let digest = try? Digest(parsing: last) else {
                return error(400, "DIGEST_INVALID", "\(last) is not a digest", detail: last)
            }
            return referrers(of: digest, in: repository, query: query, head: head)
        default:
            return error(404, "NOT_FOUND", "unknown API path", detail: path)
        }
    }

    // MARK: Answers

    private func manifest(_ reference: String, in repository: ServedContent.Repository, name: String,
                          accept: [String], head: Bool) -> Response {
        let digest: Digest
        if reference.hasPrefix("sha256:") || reference.contains(":") {
            guard let parsed = try? Digest(parsing: reference) else {
                return error(400, "DIGEST_INVALID", "\(reference) is not a digest", detail: reference)
            }
            digest = parsed
        } else {
            guard Reference.isValidTag(reference) else {
                return error(400, "TAG_INVALID", "\(reference) is not a valid tag", detail: reference)
            }
            guard let tagged = repository.tags[reference] else {
                return error(404, "MANIFEST_UNKNOWN", "manifest unknown: \(name) has no tag \(reference)", detail: reference)
            }
            digest = tagged
        }
        guard let document = repository.manifests[digest] else {
            return error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail: digest.description)
        }
        guard Self.accepts(accept, document.mediaType) else {
            return error(404, "MANIFEST_UNKNOWN",
                         "the manifest is \(document.mediaType), which the client's Accept header leaves out; bale serve does not convert manifests (that would change the digest)",
                         detail: digest.description)
        }
        var response = Response(status: 200, headers: [
            ("Content-Type", document.mediaType.rawValue),
            ("Docker-Content-Digest", digest.description),
            ("Content-Length", String(document.bytes.count)),
            ("ETag", "\"\(digest)\""),
        ], body: head ? .none : .bytes(document.bytes))
        if head { response.body = .none }
        return response
    }

    private func blob(_ region: FileRegion, digest: Digest, range: String?, head: Bool) -> Response {
        var headers = [
            ("Content-Type", "application/octet-stream"),
            ("Docker-Content-Digest", digest.description),
            ("Accept-Ranges", "bytes"),
            ("ETag", "\"\(digest)\""),
        ]
        guard let range else {
            headers.append(("Content-Length", String(region.length)))
            return Response(status: 200, headers: headers, body: head ? .none : .file(region))
        }
        guard let (start, end) = Self.parseRange(range, size: region.length) else {
            return error(416, "BLOB_UNKNOWN", "range \(range) cannot be satisfied for a blob of \(region.length) bytes",
                         detail: digest.description, extra: [("Content-Range", "bytes */\(region.length)")])
        }
        headers.append(("Content-Range", "bytes \(start)-\(end)/\(region.length)"))
        headers.append(("Content-Length", String(end - start + 1)))
        let part = FileRegion(path: region.path, offset: region.offset + start, length: end - start + 1)
        return Response(status: 206, headers: headers, body: head ? .none : .file(part))
    }

    private func referrers(of digest: Digest, in repository: ServedContent.Repository, query: [String: String],
                           head: Bool) -> Response {
        var list = repository.referrers[digest] ?? []
        var extra: [(String, String)] = []
        if let wanted = query["artifactType"] {
            list = list.filter { $0.artifactType == wanted }
            extra.append(("OCI-Filters-Applied", "artifactType"))
        }
        let index = Index(mediaType: .ociIndex, manifests: list)
        guard let bytes = try? JSON.canonical(index) else {
            return error(500, "UNKNOWN", "cannot encode the referrers index", detail: digest.description)
        }
        var response = json(200, bytes, head: head, type: MediaType.ociIndex.rawValue)
        response.headers += extra
        return response
    }

    /// A list answer with `n`/`last` pagination: entries after `last`, at most `n`, and a `Link` to the
    /// next page when more remain.
    private func page(_ all: [String], query: [String: String], path: String, head: Bool,
                      wrap: ([String]) -> [String: Any]) -> Response {
        var entries = all
        if let last = query["last"] { entries = entries.filter { $0 > last } }
        var link: String?
        if let text = query["n"] {
            guard let n = Int(text), n >= 0 else {
                return error(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative number", detail: text)
            }
            if entries.count > n {
                entries = Array(entries.prefix(n))
                if let next = entries.last {
                    link = "<\(path)?last=\(Self.percentEncode(next))&n=\(n)>; rel=\"next\""
                }
            }
        }
        guard let bytes = try? JSONSerialization.data(withJSONObject: wrap(entries), options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return error(500, "UNKNOWN", "cannot encode the list", detail: path)
        }
        var response = json(200, bytes, head: head)
        if let link { response.headers.append(("Link", link)) }
        return response
    }

    private func json(_ status: Int, _ bytes: Data, head: Bool, type: String = "application/json") -> Response {
        Response(status: status, headers: [("Content-Type", type), ("Content-Length", String(bytes.count))],
                 body: head ? .none : .bytes(bytes))
    }

    private func nameUnknown(_ name: String) -> Response {
        error(404, "NAME_UNKNOWN", "repository name not known to registry", detail: name)
    }

    /// An error answer for what the routes cannot know (the server failing to read a file).
    public func failure(_ status: Int, _ code: String, _ message: String, detail: String) -> Response {
        error(status, code, message, detail: detail)
    }

    /// The spec's error body.
    private func error(_ status: Int, _ code: String, _ message: String, detail: String,
                       extra: [(String, String)] = []) -> Response {
        let body: [String: Any] = ["errors": [["code": code, "message": message, "detail": detail]]]
        let bytes = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var response = json(status, bytes, head: false)
        response.headers += extra
        return response
    }

    // MARK: Parsing

    /// Path (percent-decoded) and query parameters.
    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        return (path, query)
    }

    /// One byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) of a blob of `size` bytes, as inclusive
    /// offsets; nil when malformed, several ranges, or outside the blob (RFC 9110 14.1.2).
    static func parseRange(_ text: String, size: Int64) -> (Int64, Int64)? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes="), size > 0 else { return nil }
        let spec = trimmed.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let second = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        guard first.allSatisfy(\.isASCII), second.allSatisfy(\.isASCII) else { return nil }
        if first.isEmpty {
            guard let suffix = Int64(second), suffix > 0 else { return nil }
            return (max(0, size - suffix), size - 1)
        }
        guard let start = Int64(first), start >= 0, start < size else { return nil }
        if second.isEmpty { return (start, size - 1) }
        guard let end = Int64(second), end >= start else { return nil }
        return (start, min(end, size - 1))
    }

    /// Whether an `Accept` list admits `type`: no header, `*/*`, `application/*`, or the type itself.
    static func accepts(_ accept: [String], _ type: MediaType) -> Bool {
        let listed = accept.flatMap { $0.split(separator: ",") }.map {
            $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
        }.filter { !$0.isEmpty }
        if listed.isEmpty { return true }
        let wanted = type.rawValue.lowercased()
        return listed.contains { $0 == wanted || $0 == "*/*" || $0 == "application/*" }
    }

    static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
