import BaleCore
import BaleIO
import Foundation

/// The store as a copy destination. Holds the exclusive lock from creation to commit or abort; blobs go
/// through `ingest/` into `blobs/` as they come (invisible until index.json names them), and index.json is
/// written once, at commit, after checking every image is complete.
public final class StoreDestination: ImageDestination, BlobSink, @unchecked Sendable {
    // Sendable: `written`, `pending` and `unpackedSizes` are guarded by `mutex`; puts may run concurrently.
    public let store: Store
    private let lock: StoreLock
    private let mutex = NSLock()
    private var written = Set<Digest>()
    private var pending: [SourceImage] = []
    /// Layers' uncompressed sizes learnt on the way, written beside the blobs only once index.json is:
    /// a copy that fails leaves the store exactly as it was, `unpacked/` included.
    private var unpackedSizes: [Digest: Int64] = [:]
    private var referrers: [(referrer: Referrer, image: SourceImage)] = []
    /// After commit: for each name that moved from another image, the image ID it left.
    public private(set) var moved: [Reference: Digest] = [:]

    public var name: String { "store \(store.root)" }
    public let properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: true)

    /// How blobs are written: `verifyExisting` hashes a blob already there before trusting it.
    private let policy: BlobWritePolicy

    /// `verifyExisting` (`load --verify-existing`): a blob already in the store counts as held only when
    /// it hashes to its digest, not merely when its size is right.
    public init(store: Store, verifyExisting: Bool = false) throws {
        self.store = store
        policy = BlobWritePolicy(verifyExisting: verifyExisting, reserve: store.reserve)
        lock = try store.acquireLock(exclusive: true)
    }

    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        BlobFile.isIntact(store.blobPath(digest), digest: digest, size: size, verify: policy.verifyExisting)
    }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        if let expected, contains(expected.digest, size: expected.size) { return (expected.digest, expected.size) }
        let result = try store.ingest(reader, expected: expected, policy: policy)
        mutex.withLock { _ = written.insert(result.digest) }
        return result
    }

    public func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try putBlob(reader, expected: expected)
    }

    public func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let result = try store.ingestProduced(produce, policy: policy)
        mutex.withLock { _ = written.insert(result.digest) }
        return result
    }

    public func open(_ digest: Digest) throws -> any BlobReader {
        try FileBlobReader(path: store.blobPath(digest))
    }

    public func recordUnpackedSize(_ size: Int64, of digest: Digest) {
        mutex.withLock { unpackedSizes[digest] = size }
    }

    public func file(_ digest: Digest) -> String? { store.hasBlob(digest) ? store.blobPath(digest) : nil }

    public func addImage(_ image: SourceImage) throws {
        // A stored name with a digest could never be listed or removed by it: refused before commit.
        if let bad = image.names.first(where: { $0.digest != nil }) {
            throw BaleError(.invalidReference, "\(bad): a stored name cannot carry a digest")
        }
        mutex.withLock { pending.append(image) }
    }

    public var holdsReferrers: Bool { true }

    public func addReferrer(_ referrer: Referrer, of image: SourceImage) throws {
        mutex.withLock { referrers.append((referrer, image)) }
    }

    public func commit() throws {
        defer { lock.release() }
        do {
            var index = try store.loadIndex()
            for image in pending {
                try store.checkComplete(image.descriptor)
                for name in image.names {
                    let tagged = name.withDefaultTag()
                    if let previous = index.setName(tagged, to: image.descriptor) { moved[tagged] = previous }
                }
                if image.names.isEmpty { index.addUnnamed(image.descriptor) }
            }
            // A referrer is an unnamed entry (its subject finds it); a cosign attachment is named by
            // its tag in each repository of the image it refers to.
            for (referrer, image) in referrers {
                try store.checkComplete(referrer.descriptor)
                let names = try referrer.tag.map { tag in try image.names.map { try $0.withTag(tag) } } ?? []
                for name in names { _ = index.setName(name, to: referrer.descriptor) }
                if names.isEmpty { index.addUnnamed(referrer.descriptor) }
            }
            try store.saveIndex(index)
            // Copies beside this one in the process (`bale sync`) have ingests and blobs in flight
            // that index.json does not name yet: the last writer left collects the garbage.
            try lock.whileSoleWriter { try store.removeLeftovers() }
            for (digest, size) in mutex.withLock({ unpackedSizes }) where store.hasBlob(digest) {
                store.recordUnpackedSize(size, of: digest)
            }
        } catch {
            try? store.removeUnreachable(written)
            throw error
        }
    }

    public func abort() {
        try? store.removeUnreachable(written)
        lock.release()
    }
}
