import BaleCore
import BaleIO
import Foundation

/// An OCI image layout directory as a source (`oci:DIR[:REF]`; image-spec image-layout.md):
///
/// ```
/// DIR/oci-layout          {"imageLayoutVersion":"1.0.0"}
/// DIR/index.json          entry point: one descriptor per image or tag
/// DIR/blobs/<alg>/<hex>   content
/// ```
public final class OCILayoutSource: ImageSource, @unchecked Sendable {
    // Sendable: immutable after init.
    let root: String
    private let selected: [SourceImage]
    private let referrerMap: ReferrerMap
    public let name: String

    /// Opens the layout at `root`; `reference` selects entries (see `LayoutIndex.matches`) or, as `@N`,
    /// the N-th image (0-based, as skopeo).
    public init(root: String, reference: String?, name: String? = nil) throws {
        self.root = root
        self.name = name ?? "oci:\(root)"
        let layoutBytes = try Self.read(root + "/oci-layout", what: "\(self.name): oci-layout")
        struct Layout: Decodable { let imageLayoutVersion: String }
        let layout = try JSON.decode(Layout.self, from: layoutBytes, what: "\(self.name): oci-layout")
        guard layout.imageLayoutVersion == "1.0.0" else {
            throw BaleError(.unsupported, "\(self.name): image layout version \(layout.imageLayoutVersion), expected 1.0.0")
        }
        let index = try JSON.decode(Index.self, from: try Self.read(root + "/index.json", what: "\(self.name): index.json"),
                                    what: "\(self.name): index.json")
        let location = self.name
        let read: @Sendable (Descriptor) throws -> Data? = { d in
            let p = "\(root)/blobs/\(d.digest.algorithm.rawValue)/\(d.digest.encoded)"
            return try access(p, F_OK) == 0 ? Self.verifiedDocument(d, at: p, location: location) : nil
        }
        let chosen = try LayoutIndex.select(index.manifests, reference: reference, location: self.name)
        selected = reference == nil ? LayoutIndex.withoutReferrers(chosen, read: read) : chosen
        let entries = index.manifests
        referrerMap = ReferrerMap(candidates: { LayoutIndex.referrerCandidates(entries) }, read: read)
    }

    public func referrers(of digest: Digest) throws -> [Referrer] { try referrerMap.referrers(of: digest) }

    public func images() throws -> [SourceImage] { selected }

    func path(_ digest: Digest) -> String { "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    public func document(_ descriptor: Descriptor) throws -> Data {
        try Self.verifiedDocument(descriptor, at: path(descriptor.digest), location: name)
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        let p = path(descriptor.digest)
        guard access(p, F_OK) == 0 else {
            throw BaleError(.notFound, "\(name): blob \(descriptor.digest) is missing (\(p))")
        }
        return try FileBlobReader(path: p)
    }

    public func blobFile(_ descriptor: Descriptor) -> String? {
        access(path(descriptor.digest), F_OK) == 0 ? path(descriptor.digest) : nil
    }

    public func close() {}

    /// Reads a small regular file, capped (a FIFO or device is refused, never waited on).
    static func read(_ path: String, what: String) throws -> Data {
        let data: Data
        do {
            data = try RegularFile.read(path, limit: JSON.maxDocumentSize + 1)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(what): \(error.message)")
        }
        guard data.count <= JSON.maxDocumentSize else {
            throw BaleError(.invalidInput, "\(what): over the \(JSON.maxDocumentSize)-byte limit for JSON documents")
        }
        return data
    }

    /// Reads a document blob and checks its size and digest.
    static func verifiedDocument(_ descriptor: Descriptor, at path: String, location: String) throws -> Data {
        try descriptor.checkDocumentSize(in: location)
        let data = try read(path, what: "\(location): \(descriptor.digest)")
        try descriptor.verify(data, in: location)
        return data
    }
}
