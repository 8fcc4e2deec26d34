import AsyncHTTPClient
import BaleCore
import Foundation
import NIOCore
import NIOHTTP1
import BaleIO

// Manifests, blobs, uploads and lists of one repository.

extension RegistryClient {
    /// The manifest and index types a pull accepts.
    static let manifestTypes = [MediaType.ociManifest, .ociIndex, .dockerManifest, .dockerManifestList].map(\.rawValue)

    // MARK: Pull

    /// A manifest or index by tag or digest, with its descriptor. Verified: against the digest asked
    /// for, or for a tag against the registry's `Docker-Content-Digest` when it sends one.
    public func manifest(_ reference: String) throws -> (descriptor: Descriptor, bytes: Data) {
        let what = "manifest \(reference)"
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: Self.manifestTypes.joined(separator: ", "))
        let response = try send(.GET, url("manifests/\(reference)"), headers: headers, what: what)
        try expect(response, [200], what: what)
        let bytes = try response.body(limit: JSON.maxDocumentSize)
        let actual = SHA256Hasher.digest(bytes)
        let claimed = try response.header("Docker-Content-Digest").map { try Digest(parsing: $0) }
        let wanted = (try? Digest(parsing: reference)) ?? claimed
        if let wanted, wanted != actual {
            throw BaleError(.integrity, "\(display): \(what): the registry sent content of digest \(actual), not \(wanted)")
        }
        let mediaType = try Self.mediaType(of: bytes, contentType: response.header("Content-Type"), what: "\(display): \(what)")
        return (Descriptor(mediaType: mediaType, digest: actual, size: Int64(bytes.count)), bytes)
    }

    /// The type a document says it is (its `mediaType`), else the one the registry labelled it with.
    private static func mediaType(of bytes: Data, contentType: String?, what: String) throws -> MediaType {
        struct Typed: Decodable { var mediaType: String? }
        let typed = try JSON.decode(Typed.self, from: bytes, what: what)
        let label = contentType.map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces) }
        guard let name = typed.mediaType ?? label, !name.isEmpty else {
            throw BaleError(.invalidInput, "\(what): neither the document nor the registry gives its media type")
        }
        return MediaType(rawValue: name)
    }

    /// A small blob (a config) whole, verified against its descriptor; read as `openBlob` reads, so a
    /// dropped connection resumes and a body longer than the descriptor's size is an error.
    public func document(_ descriptor: Descriptor) throws -> Data {
        try descriptor.checkDocumentSize(in: display)
        if Self.manifestTypes.contains(descriptor.mediaType.rawValue) { return try manifest(descriptor.digest.string).bytes }
        let reader = RemoteBlobReader(client: self, descriptor: descriptor)
        defer { reader.close() }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        try descriptor.verify(data, in: display)
        return data
    }

    /// A blob as a stream that survives dropped connections: it resumes with `Range: bytes=N-` (and
    /// checks the `206` and its `Content-Range`), and ends with an error if the registry sends more
    /// than the descriptor's size. The copier verifies the digest.
    public func openBlob(_ descriptor: Descriptor) -> any BlobReader {
        RemoteBlobReader(client: self, descriptor: descriptor)
    }

    /// One GET of a blob from `offset`; the response is positioned at `offset`.
    fileprivate func blobResponse(_ descriptor: Descriptor, from offset: Int64) throws -> HTTPResponse {
        var headers = HTTPHeaders()
        if offset > 0 { headers.add(name: "Range", value: "bytes=\(offset)-") }
        let what = "blob \(descriptor.digest)"
        let response = try send(.GET, url("blobs/\(descriptor.digest)"), headers: headers, what: what)
        if offset > 0 && response.status == 206 {
            let range = response.header("Content-Range") ?? ""
            guard range.hasPrefix("bytes \(offset)-") else {
                response.discard()
                throw BaleError(.io, "\(display): \(what): asked from byte \(offset), the registry sent \(range.isEmpty ? "no Content-Range" : range)")
            }
            return response
        }
        try expect(response, [200], what: what)
        // A registry that ignores Range sends it all again: skip what was already read.
        var skip = offset
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        while skip > 0 {
            let n = try scratch.withUnsafeMutableBytes { raw in
                try response.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<Int(min(Int64(raw.count), skip))]))
            }
            if n == 0 { throw TransientError(description: "the body ended before byte \(offset)") }
            skip -= Int64(n)
        }
        return response
    }

    /// Whether the repository holds the blob (`HEAD`).
    public func blobExists(_ digest: Digest) throws -> Bool {
        let response = try send(.HEAD, url("blobs/\(digest)"), what: "blob \(digest)")
        defer { response.discard() }
        if response.status == 404 { return false }
        try expect(response, [200], what: "blob \(digest)")
        return true
    }

    // MARK: Push

    /// Blobs below this size are uploaded in one PUT from memory (one request fewer per small blob);
    /// larger ones stream in one PATCH, as skopeo and docker do.
    public static let monolithicLimit = 8 << 20

    /// Mounts a blob from another repository of this registry (`POST …?mount=&from=`); false when the
    /// registry cannot (it answers 202, an ordinary upload session, which is abandoned).
    public func mount(_ digest: Digest, from repository: String) throws -> Bool {
        let start = try Self.appending(Self.appending(url("blobs/uploads/"), "mount", digest.string), "from", repository)
        let response = try send(.POST, start, what: "mount of \(digest) from \(repository)")
        defer { response.discard() }
        try expect(response, [201, 202], what: "mount of \(digest) from \(repository)")
        return response.status == 201
    }

    /// Uploads a blob read from `reader`, which must give exactly `descriptor.size` bytes with its
    /// digest: hashed on the way, so bytes that do not match never get the final PUT that would make
    /// them a blob (the registry checks too; this names the source's fault as such).
    ///
    /// A large blob streams in one PATCH (the socket is the only limit; memory is one 256 KiB buffer).
    /// When that PATCH is cut, the bytes are gone from this side, and distribution cannot resume the
    /// session anyway (its `_state` still names the offset before the PATCH, and asking cancels it),
    /// so the error is `PutInterrupted`: the copier opens the blob again and puts it in a new session.
    public func upload(_ reader: any BlobReader, _ descriptor: Descriptor) throws {
        let what = "upload of \(descriptor.digest)"
        let checked = CheckingReader(reader, descriptor: descriptor, display: display)
        if descriptor.size < Int64(Self.monolithicLimit) {
            // One byte more than the size, so the read that ends the blob (and checks it) happens here.
            var bytes = Data(count: Int(descriptor.size) + 1)
            let n = try bytes.withUnsafeMutableBytes { try Self.fill($0, from: checked) }
            var location = try startUpload(what: what)
            try finishUpload(&location, descriptor, body: bytes.prefix(n), what: what)
            return
        }
        var location = try startUpload(what: what)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        do {
            let response = try send(.PATCH, location, headers: headers,
                                    body: SizedReader(checked, length: descriptor.size), what: what)
            if [429, 500, 502, 503, 504].contains(response.status) {
                response.discard()
                throw PutInterrupted(cause: BaleError(.io, "\(display): \(what): the registry answered \(response.status)"))
            }
            try expect(response, [202], what: what)
            response.discard()
            location = try self.location(of: response, what: what)
        } catch let error where !(error is PutInterrupted) && Self.isTransient(error) {
            throw PutInterrupted(cause: error)
        }
        try finishUpload(&location, descriptor, body: nil, what: what)
    }

    /// Reads until `buffer` is full or the reader ends; returns the bytes read.
    private static func fill(_ buffer: UnsafeMutableRawBufferPointer, from reader: any BlobReader) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// `POST …/blobs/uploads/` → the session's `Location`.
    private func startUpload(what: String) throws -> URL {
        let start = try url("blobs/uploads/")
        let response = try send(.POST, start, what: what)
        try expect(response, [202], what: what)
        response.discard()
        return try location(of: response, what: what)
    }

    private func location(of response: HTTPResponse, what: String) throws -> URL {
        guard let given = response.header("Location") else {
            throw BaleError(.io, "\(display): \(what): the registry gave no upload Location")
        }
        return try Self.resolve(given, against: response.url)
    }

    /// `PUT <Location>&digest=…` (with the whole blob for a monolithic upload) → 201. A dropped PUT is
    /// sent again: the bytes are in memory, or already in the session.
    private func finishUpload(_ location: inout URL, _ descriptor: Descriptor, body: Data?, what: String) throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        var attempt = 0
        while true {
            let put = try Self.appending(location, "digest", descriptor.digest.string)
            let reader = SizedReader(DataReader(body ?? Data()), length: Int64(body?.count ?? 0))
            do {
                let response = try send(.PUT, put, headers: headers, body: reader, what: what)
                try expect(response, [201], what: what)
                response.discard()
                return
            } catch where Self.isTransient(error) && attempt + 1 < Self.maxAttempts {
                attempt += 1
                Self.backoff(attempt)
                // The session may have gone with the connection: a monolithic blob starts a new one.
                if body != nil { location = try startUpload(what: what) }
            }
        }
    }

    /// Puts a manifest or index under `reference` (a tag, or its digest), typed by its own media type.
    public func putManifest(_ bytes: Data, descriptor: Descriptor, reference: String) throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: descriptor.mediaType.rawValue)
        let what = "manifest \(reference)"
        let response = try send(.PUT, url("manifests/\(reference)"), headers: headers,
                                body: SizedReader(DataReader(bytes), length: Int64(bytes.count)), what: what)
        try expect(response, [201], what: what)
        response.discard()
        if let given = response.header("Docker-Content-Digest"), given != descriptor.digest.string {
            throw BaleError(.integrity, "\(display): \(what): the registry stored it as \(given), not \(descriptor.digest)")
        }
    }

    // MARK: Lists

    /// Every tag of the repository (`tags/list`, following `Link: <…>; rel="next"`).
    public func tags() throws -> [String] {
        struct Page: Decodable { var tags: [String]? }
        return try pages(url("tags/list?n=1000"), what: "tags") { data in
            try JSON.decode(Page.self, from: data, what: "\(display): tags").tags ?? []
        }
    }

    /// Every repository of a registry (`/v2/_catalog`, paginated). The registry may refuse it (Docker
    /// Hub does); that is an error.
    public static func catalog(host: String, options: RegistryOptions) throws -> [String] {
        let client = try RegistryClient(host: host, repository: "", options: options, scopes: ["registry:catalog:*"])
        struct Page: Decodable { var repositories: [String]? }
        return try client.pages(client.url("_catalog?n=1000"), what: "catalog") { data in
            try JSON.decode(Page.self, from: data, what: "\(client.display): catalog").repositories ?? []
        }
    }

    /// Checks a login against a registry, as `docker login` does: `GET /v2/` authenticated with it
    /// (Basic, or a token fetched with it). Throws "authentication required" when it is refused.
    public static func checkLogin(host: String, credential: RegistryCredential, options: RegistryOptions) throws {
        let client = try RegistryClient(host: host, repository: "", options: options, credential: credential, scopes: [])
        let response = try client.send(.GET, client.url(""), what: "login")
        response.discard()
        try client.expect(response, [200], what: "login")
    }

    private func pages<T>(_ first: URL, what: String, _ decode: (Data) throws -> [T]) throws -> [T] {
        var next: URL? = first
        var all: [T] = []
        var seen = Set<String>()
        while let page = next {
            guard seen.insert(page.absoluteString).inserted else {
                throw BaleError(.invalidInput, "\(display): \(what): the registry's Link pages loop")
            }
            let response = try send(.GET, page, what: what)
            try expect(response, [200], what: what)
            all += try decode(response.body(limit: 16 << 20))
            next = try Self.nextLink(response.header("Link")).map { try Self.resolve($0, against: page) }
        }
        return all
    }

    /// The target of `rel="next"` in a `Link` header (RFC 8288): `</v2/_catalog?last=x&n=100>; rel="next"`.
    public static func nextLink(_ header: String?) -> String? {
        guard let header else { return nil }
        for link in header.split(separator: ",") {
            let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
            let isNext = parts.dropFirst().contains { param in
                let pair = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return pair.count == 2 && pair[0].lowercased() == "rel"
                    && pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).split(separator: " ").contains("next")
            }
            if isNext { return String(target.dropFirst().dropLast()) }
        }
        return nil
    }
}

/// A blob streamed from a registry, resumed with `Range` after a failure (see `openBlob`).
final class RemoteBlobReader: BlobReader {
    private let client: RegistryClient
    private let descriptor: Descriptor
    private var response: HTTPResponse?
    private var offset: Int64 = 0
    private var failures = 0
    private var done = false

    init(client: RegistryClient, descriptor: Descriptor) {
        self.client = client
        self.descriptor = descriptor
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !done {
            let remaining = descriptor.size - offset
            do {
                if response == nil { response = try client.blobResponse(descriptor, from: offset) }
                // At most what is left, plus one byte past the end to catch a body that goes on.
                let cap = Int(min(Int64(buffer.count), max(remaining, 1)))
                let n = try response!.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<cap]))
                if n == 0 {
                    guard remaining == 0 else {
                        throw TransientError(description: "the connection ended after \(offset) of \(descriptor.size) bytes")
                    }
                    done = true
                    close()
                    return 0
                }
                guard remaining > 0 else {
                    close()
                    throw BaleError(.integrity, "\(client.display): blob \(descriptor.digest): the registry sent more than its \(descriptor.size) bytes")
                }
                offset += Int64(n)
                failures = 0
                return n
            } catch {
                response?.discard()
                response = nil
                failures += 1
                guard RegistryClient.isTransient(error), failures < RegistryClient.maxAttempts else {
                    if let error = error as? BaleError { throw error }
                    throw BaleError(.io, "\(client.display): blob \(descriptor.digest): \(RegistryClient.describe(error)) (after \(offset) of \(descriptor.size) bytes)")
                }
                RegistryClient.backoff(failures)
            }
        }
        return 0
    }

    func close() {
        response?.discard()
        response = nil
    }
}

/// A blob's bytes on their way up, hashed and counted: more bytes than the descriptor's size, or at the
/// end fewer or another digest, is an integrity error naming the blob (not a transport error, so it is
/// never retried).
private final class CheckingReader: BlobReader {
    private let base: any BlobReader
    private let descriptor: Descriptor
    private let display: String
    private var hasher = SHA256Hasher()
    private var count: Int64 = 0
    private var checked = false

    init(_ base: any BlobReader, descriptor: Descriptor, display: String) {
        self.base = base
        self.descriptor = descriptor
        self.display = display
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        guard n > 0 else {
            try check()
            return 0
        }
        count += Int64(n)
        guard count <= descriptor.size else { throw sizeError() }
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }

    func close() { base.close() }

    private func check() throws {
        guard !checked else { return }
        checked = true
        guard count == descriptor.size else { throw sizeError() }
        let actual = hasher.finalize()
        guard actual == descriptor.digest else {
            throw BaleError(.integrity, "\(display): blob \(descriptor.digest): the source's bytes hash to \(actual)")
        }
    }

    private func sizeError() -> BaleError {
        BaleError(.integrity, "\(display): blob \(descriptor.digest): the source gave \(count)\(count > descriptor.size ? "+" : "") bytes, not \(descriptor.size)")
    }
}
