import BaleCore
import BaleIO
import Foundation

/// The store as a copy destination. Holds the exclusive lock from creation to commit or abort; blobs go
/// through `ingest/` into `blobs/` as they come (invisible until index.json names them), and index.json is
/// written once, at commit, after checking every image is complete.
public final class StoreDestination: ImageDestination, BlobSink, @unchecked Sendable {
    // Sendable: `written` and `pending` are guarded by `mutex`; puts may run concurrently.
    public let store: Store
    private let lock: StoreLock
    private let mutex = NSLock()
    private var written = Set<Digest>()
    private var pending: [SourceImage] = []
    /// After commit: for each name that moved from another image, the image ID it left.
    public private(set) var moved: [Reference: Digest] = [:]

    public var name: String { "store \(store.root)" }
    public let properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: true)

    public init(store: Store) throws {
        self.store = store
        lock = try store.acquireLock(exclusive: true)
    }

    public func contains(_ digest: Digest) -> Bool { store.hasBlob(digest) }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        if let expected, store.hasBlob(expected.digest) { return (expected.digest, expected.size) }
        let result = try store.ingest(reader, expected: expected)
        mutex.withLock { _ = written.insert(result.digest) }
        return result
    }

    public func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try putBlob(reader, expected: expected)
    }

    public func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let result = try store.ingestProduced(produce)
        mutex.withLock { _ = written.insert(result.digest) }
        return result
    }

    public func open(_ digest: Digest) throws -> any BlobReader {
        try FileBlobReader(path: store.blobPath(digest))
    }

    public func file(_ digest: Digest) -> String? { store.hasBlob(digest) ? store.blobPath(digest) : nil }

    public func addImage(_ image: SourceImage) throws {
        mutex.withLock { pending.append(image) }
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
            try store.saveIndex(index)
            try store.removeUnreachable(written)
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
