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

    /// Blobs up to this size are uploaded in one PUT; larger ones in PATCHes of this size, each held in
    /// memory until the registry has it, so a dropped connection resumes from the registry's offset
    /// instead of from the start (memory: one chunk per concurrent upload).
    public static let chunkSize = 8 << 20

    /// Mounts a blob from another repository of this registry (`POST …?mount=&from=`); false when the
    /// registry cannot (it answers 202, an ordinary upload session, which is abandoned).
    public func mount(_ digest: Digest, from repository: String) throws -> Bool {
        let start = try Self.appending(Self.appending(url("blobs/uploads/"), "mount", digest.string), "from", repository)
        let response = try send(.POST, start, what: "mount of \(digest) from \(repository)")
        defer { response.discard() }
        try expect(response, [201, 202], what: "mount of \(digest) from \(repository)")
        return response.status == 201
    }

    /// Uploads a blob read from `reader`, which must give exactly `descriptor.size` bytes; the registry
    /// checks the digest at the final PUT.
    public func upload(_ reader: any BlobReader, _ descriptor: Descriptor) throws {
        let what = "upload of \(descriptor.digest)"
        var location = try startUpload(what: what)
        var chunk = [UInt8](repeating: 0, count: Int(min(descriptor.size + 1, Int64(Self.chunkSize))))
        var offset: Int64 = 0
        // Hashed on the way, so bytes that do not match never get the final PUT that would make them a
        // blob (the registry checks too; this names the source's fault as such).
        var hasher = SHA256Hasher()
        func checkDigest() throws {
            let actual = hasher.finalize()
            guard actual == descriptor.digest else {
                throw BaleError(.integrity, "\(display): blob \(descriptor.digest): the source's bytes hash to \(actual)")
            }
        }
        if descriptor.size < Int64(Self.chunkSize) {
            // Monolithic: the whole blob in the PUT.
            let n = try fill(&chunk, from: reader)
            guard Int64(n) == descriptor.size else { throw sizeError(descriptor, read: Int64(n)) }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            try checkDigest()
            try finishUpload(&location, descriptor, body: Data(chunk[0..<n]), what: what)
            return
        }
        while true {
            let n = try fill(&chunk, from: reader)
            if n == 0 { break }
            guard offset + Int64(n) <= descriptor.size else { throw sizeError(descriptor, read: offset + Int64(n)) }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            try sendChunk(chunk[0..<n], at: offset, location: &location, what: what)
            offset += Int64(n)
        }
        guard offset == descriptor.size else { throw sizeError(descriptor, read: offset) }
        try checkDigest()
        try finishUpload(&location, descriptor, body: nil, what: what)
    }

    private func sizeError(_ descriptor: Descriptor, read: Int64) -> BaleError {
        BaleError(.integrity, "\(display): blob \(descriptor.digest): the source gave \(read)\(read > descriptor.size ? "+" : "") bytes, not \(descriptor.size)")
    }

    /// Reads until `buffer` is full or the reader ends; returns the bytes read.
    private func fill(_ buffer: inout [UInt8], from reader: any BlobReader) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try buffer.withUnsafeMutableBytes { raw in
                try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
            }
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

    /// PATCHes `bytes` at `offset`; after a dropped connection asks the registry how far it got
    /// (`GET` on the session: `Range: 0-LAST`) and sends the rest from there.
    private func sendChunk(_ bytes: ArraySlice<UInt8>, at offset: Int64, location: inout URL, what: String) throws {
        var sent = 0
        var failures = 0
        while sent < bytes.count {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            let start = offset + Int64(sent)
            headers.add(name: "Content-Range", value: "\(start)-\(offset + Int64(bytes.count) - 1)")
            let body = SizedReader(DataReader(Data(bytes[(bytes.startIndex + sent)...])), length: Int64(bytes.count - sent))
            do {
                let response = try send(.PATCH, location, headers: headers, body: body, what: what)
                try expect(response, [202], what: what)
                response.discard()
                location = try self.location(of: response, what: what)
                sent = bytes.count
            } catch {
                failures += 1
                guard failures < Self.maxAttempts, Self.isTransient(error) else { throw error }
                Self.backoff(failures)
                guard let received = try uploadedBytes(&location, what: what) else {
                    // Distribution 2.8 keeps the bytes of a broken PATCH but not the session: its
                    // `_state` names the offset before that PATCH, and a request with it cancels the
                    // upload. A first chunk is still whole in memory: a new session takes it.
                    guard offset == 0 else {
                        throw BaleError(.io, "\(display): \(what): the registry dropped the upload after the connection broke at byte \(offset + Int64(sent)); run the push again (what is there is skipped)")
                    }
                    location = try startUpload(what: what)
                    sent = 0
                    continue
                }
                guard received >= offset, received <= offset + Int64(bytes.count) else {
                    throw BaleError(.io, "\(display): \(what): the registry holds \(received) bytes, expected \(offset) to \(offset + Int64(bytes.count))")
                }
                sent = Int(received - offset)
            }
        }
    }

    /// The bytes an upload session holds (`GET` on its Location: 204 with `Range: 0-LAST`); nil when
    /// the registry no longer knows the session (404, or 400 for a state it refuses).
    private func uploadedBytes(_ location: inout URL, what: String) throws -> Int64? {
        let response = try send(.GET, location, what: what)
        if response.status == 404 || response.status == 400 {
            response.discard()
            return nil
        }
        try expect(response, [204], what: what)
        response.discard()
        if let given = response.header("Location") { location = try Self.resolve(given, against: response.url) }
        guard let range = response.header("Range"), range.hasPrefix("0-"), let last = Int64(range.dropFirst(2)) else {
            return 0
        }
        return last + 1
    }

    /// `PUT <Location>&digest=…` (with the whole blob for a monolithic upload) → 201.
    private func finishUpload(_ location: inout URL, _ descriptor: Descriptor, body: Data?, what: String) throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        var attempt = 0
        while true {
            let put = try Self.appending(location, "digest", descriptor.digest.string)
            let reader = body.map { SizedReader(DataReader($0), length: Int64($0.count)) } ?? SizedReader(DataReader(Data()), length: 0)
            do {
                let response = try send(.PUT, put, headers: headers, body: reader, what: what)
                try expect(response, [201], what: what)
                response.discard()
                return
            } catch where Self.isTransient(error) && attempt + 1 < Self.maxAttempts {
                // A dropped PUT: a monolithic blob is in memory, so it starts again in a new session.
                attempt += 1
                Self.backoff(attempt)
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
