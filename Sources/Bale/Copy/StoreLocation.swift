import BaleCore
import Foundation

/// The store as a copy source: images by name, ID or digest, with the store's shared lock held until
/// `close`, so nothing it names is removed mid-copy.
public final class StoreSource: ImageSource, @unchecked Sendable {
    // Sendable: immutable after init; the store's methods are safe to call from several threads.
    public let store: Store
    private let selected: [SourceImage]
    private let lock: StoreLock
    public var name: String { "store \(store.root)" }
    /// A store keeps what it was given: an index it holds is the image, every platform of it.
    public var holdsWholeIndexes: Bool { true }

    /// Selects images: each argument is a name (tag defaults to latest), NAME@DIGEST, ID or ID prefix.
    /// An image chosen by name keeps that name only; one chosen by ID or digest keeps all its names.
    public init(store: Store, selecting arguments: [String]) throws {
        self.store = store
        lock = try store.acquireLock(exclusive: false)
        do {
            let all = try store.images(in: store.loadIndex()).images
            var chosen: [SourceImage] = []
            for argument in arguments {
                let image = try store.resolve(argument, in: all)
                let byName = (try? Reference(parsing: argument)).flatMap { ref -> Reference? in
                    let tagged = ref.withDefaultTag()
                    return ref.digest == nil && image.names.contains(tagged) ? tagged : nil
                }
                let names = byName.map { [$0] } ?? image.names
                if let i = chosen.firstIndex(where: { $0.descriptor.digest == image.descriptor.digest }) {
                    chosen[i].names = Array(Set(chosen[i].names + names)).sorted()
                } else {
                    chosen.append(SourceImage(descriptor: image.descriptor, names: names))
                }
            }
            selected = chosen
        } catch {
            lock.release()
            throw error
        }
    }

    public func images() throws -> [SourceImage] { selected }

    public func document(_ descriptor: Descriptor) throws -> Data {
        try store.readDocument(descriptor)
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        guard store.hasBlob(descriptor.digest) else {
            throw BaleError(.notFound, "\(descriptor.digest): blob missing from the store (\(store.blobPath(descriptor.digest)))")
        }
        return try FileBlobReader(path: store.blobPath(descriptor.digest))
    }

    public func close() { lock.release() }
}

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

    public func open(_ digest: Digest) throws -> any BlobReader {
        try FileBlobReader(path: store.blobPath(digest))
    }

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
