import BaleCore
import BaleIO
import Foundation

/// An OCI image layout directory as a destination (`oci:DIR[:REF]`). Blobs are written as they come
/// (temp file in the blob folder, then rename); index.json is written last, atomically, at commit. An
/// existing layout is added to: an entry with the same name is replaced, as skopeo does.
public final class OCILayoutDestination: ImageDestination, BlobSink, @unchecked Sendable {
    // Sendable: `written` and `pending` are guarded by `mutex`.
    let root: String
    private let reference: String?
    private let mutex = NSLock()
    private var written = Set<Digest>()
    private var pending: [SourceImage] = []
    private var referrers: [(referrer: Referrer, image: SourceImage)] = []
    private let createdRoot: Bool
    public let name: String
    public let properties = DestinationProperties(acceptsDockerTypes: false, concurrentPuts: true)

    /// `reference` (the REF of `oci:DIR:REF`) becomes the ref.name of the single image written.
    public init(root: String, reference: String?, name: String? = nil) throws {
        self.root = root
        self.reference = reference
        self.name = name ?? "oci:\(root)"
        createdRoot = access(root, F_OK) != 0
        try FileManager.default.createDirectory(atPath: root + "/blobs/sha256", withIntermediateDirectories: true)
        if access(root + "/oci-layout", F_OK) == 0 {
            _ = try OCILayoutSource(root: root, reference: nil, name: self.name) // refuse a broken layout early
        }
    }

    func path(_ digest: Digest) -> String { "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        BlobFile.isIntact(path(digest), digest: digest, size: size, verify: false)
    }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        if let expected, contains(expected.digest, size: expected.size) { return (expected.digest, expected.size) }
        let result = try BlobFile.write(reader, expected: expected, temporaryDirectory: root + "/blobs/sha256") { path($0) }
        mutex.withLock { _ = written.insert(result.digest) }
        return result
    }

    public func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try putBlob(reader, expected: expected)
    }

    public func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let result = try BlobFile.produce(temporaryDirectory: root + "/blobs/sha256", finalPath: { path($0) }, produce)
        mutex.withLock { _ = written.insert(result.digest) }
        return result
    }

    public func open(_ digest: Digest) throws -> any BlobReader { try FileBlobReader(path: path(digest)) }

    public func file(_ digest: Digest) -> String? { contains(digest, size: nil) ? path(digest) : nil }

    public func addImage(_ image: SourceImage) throws {
        try mutex.withLock {
            if reference != nil && !pending.isEmpty {
                throw BaleError(.usage, "\(name): one name was given but several images were copied; leave the name out")
            }
            pending.append(image)
        }
    }

    public var holdsReferrers: Bool { true }

    public func addReferrer(_ referrer: Referrer, of image: SourceImage) throws {
        mutex.withLock { referrers.append((referrer, image)) }
    }

    public func commit() throws {
        var index = Index(mediaType: .ociIndex, manifests: [])
        if access(root + "/index.json", F_OK) == 0 {
            index = try JSON.decode(Index.self, from: try OCILayoutSource.read(root + "/index.json", what: "\(name): index.json"),
                                    what: "\(name): index.json")
        }
        for image in pending {
            let entries = try Self.entries(for: image, reference: reference)
            let refs = Set(entries.compactMap { $0.annotations?[Descriptor.Annotation.refName] })
            let fulls = Set(entries.compactMap { $0.annotations?[Descriptor.Annotation.containerdImageName] })
            index.manifests.removeAll { old in
                let a = old.annotations ?? [:]
                if let full = a[Descriptor.Annotation.containerdImageName] { return fulls.contains(full) }
                return fulls.isEmpty && a[Descriptor.Annotation.refName].map(refs.contains) == true
            }
            index.manifests += entries
        }
        for (referrer, image) in referrers {
            let entries = try LayoutIndex.entries(for: referrer, of: image, reference: reference)
            index.manifests.removeAll { old in entries.contains { $0.digest == old.digest && $0.annotations == old.annotations } }
            index.manifests += entries
        }
        try Self.writeFile(root + "/oci-layout", Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try Self.writeFile(root + "/index.json", JSON.canonical(index))
        // Unrequested blobs a streaming source staged here and no image uses are removed; when the
        // layout's graph cannot be read whole (a damaged document of another image), they are kept.
        guard let used = try? reachable(index) else { return }
        for digest in mutex.withLock({ written }) where !used.contains(digest) { unlink(path(digest)) }
    }

    public func abort() {
        for digest in mutex.withLock({ written }) { unlink(path(digest)) }
        if createdRoot { try? FileManager.default.removeItem(atPath: root) }
    }

    /// The index.json entries for an image: one per name (Docker 25's annotations), the given REF alone,
    /// or one bare entry for an untagged image.
    static func entries(for image: SourceImage, reference: String?) throws -> [Descriptor] {
        var base = image.descriptor
        base.annotations = nil
        if let reference {
            var d = base
            d.annotations = [Descriptor.Annotation.refName: reference]
            return [d]
        }
        if image.names.isEmpty { return [base] }
        return image.names.map { name in
            var d = base
            d.annotations = LayoutIndex.annotations(for: name)
            return d
        }
    }

    private func reachable(_ index: Index) throws -> Set<Digest> {
        var seen = Set<Digest>()
        try ImageGraph.walk(index.manifests, read: { d in
            guard contains(d.digest, size: d.size), d.size <= Int64(JSON.maxDocumentSize) else { return nil }
            return try? OCILayoutSource.verifiedDocument(d, at: path(d.digest), location: name)
        }) { d, _ in
            seen.insert(d.digest)
            return true
        }
        return seen
    }

    /// Temp file, fsync, rename.
    static func writeFile(_ path: String, _ data: Data) throws {
        try BlobFile.replace(path, with: data)
    }
}
