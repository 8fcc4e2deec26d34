import BaleCore
import Foundation

/// The store as the destination of `verify --repair LOCATION`: a copy from any location that takes
/// only the blobs named (those `verify` found damaged or missing) and writes each over what is there,
/// through the same verified write as every blob. It records no image and leaves index.json alone, so
/// the location's names never leak into the store. Holds the exclusive lock from creation to
/// commit or abort.
public final class StoreRepairDestination: ImageDestination, @unchecked Sendable {
    // Sendable: `repaired` is guarded by `mutex`; the rest is immutable.
    public let store: Store
    private let lock: StoreLock
    private let wanted: Set<Digest>
    private let mutex = NSLock()
    private var _repaired = Set<Digest>()

    public var name: String { "store \(store.root)" }
    public let properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: true)

    /// Repairs the blobs `wanted`.
    public init(store: Store, repairing wanted: Set<Digest>) throws {
        self.store = store
        self.wanted = wanted
        lock = try store.acquireLock(exclusive: true)
    }

    /// The blobs written back so far.
    public var repaired: Set<Digest> { mutex.withLock { _repaired } }

    /// Every blob but the wanted ones counts as held, so the copier reads only those from the source.
    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        !wanted.contains(digest) || repaired.contains(digest)
    }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        guard let expected else {
            throw BaleError(.internal, "\(name): a repair takes only blobs of known digest")
        }
        guard wanted.contains(expected.digest) else { return (expected.digest, expected.size) }
        // The file there is damaged, possibly with the right size: hash it rather than trust its size.
        let result = try BlobFile.write(reader, expected: expected, temporaryDirectory: store.ingestDir,
                                        policy: BlobWritePolicy(verifyExisting: true, reserve: store.reserve)) {
            store.blobPath($0)
        }
        mutex.withLock { _ = _repaired.insert(result.digest) }
        return result
    }

    /// Documents pass through `putBlob`: only the wanted ones are written.
    public func addImage(_ image: SourceImage) throws {}

    public func commit() throws { lock.release() }

    public func abort() { lock.release() }
}
