import BaleCore
import Foundation

/// The store as a copy source: images by name, ID or digest, with the store's shared lock held until
/// `close`, so nothing it names is removed mid-copy.
public final class StoreSource: ImageSource, @unchecked Sendable {
    // Sendable: immutable after init; the store's methods are safe to call from several threads.
    public let store: Store
    private let selected: [SourceImage]
    private let lock: StoreLock
    private let referrerMap: ReferrerMap
    public var name: String { "store \(store.root)" }
    /// A store keeps what it was given: an index it holds is the image, every platform of it.
    public var holdsWholeIndexes: Bool { true }

    /// Selects images: each argument is a name (tag defaults to latest), NAME@DIGEST, ID or ID prefix.
    /// An image chosen by name keeps that name only; one chosen by ID or digest keeps all its names.
    public convenience init(store: Store, selecting arguments: [String]) throws {
        try self.init(store: store) { index in
            var chosen: [SourceImage] = []
            var position: [Digest: Int] = [:]
            for argument in arguments {
                let image = try store.resolveAll(argument, in: index)[0]
                let byName = (try? Reference(parsing: argument)).flatMap { ref -> Reference? in
                    let tagged = ref.withDefaultTag()
                    return ref.digest == nil && image.names.contains(tagged) ? tagged : nil
                }
                let names = byName.map { [$0] } ?? image.names
                if let i = position[image.descriptor.digest] {
                    chosen[i].names = Array(Set(chosen[i].names + names)).sorted()
                } else {
                    position[image.descriptor.digest] = chosen.count
                    chosen.append(SourceImage(descriptor: image.descriptor, names: names))
                }
            }
            return chosen
        }
    }

    /// Every image the store holds, each with all its names (an untagged image with none), in the
    /// index's order: what `bale serve` offers and `bale search` reads through the generic source API.
    public convenience init(everythingIn store: Store) throws {
        try self.init(store: store) { index in
            index.digests.compactMap { digest in
                index.descriptor(of: digest).map { SourceImage(descriptor: StoreIndex.bare($0), names: index.names(of: digest)) }
            }
        }
    }

    private init(store: Store, select: (StoreIndex) throws -> [SourceImage]) throws {
        self.store = store
        // Referrers are index.json entries: unnamed ones with a subject, and cosign tags.
        referrerMap = ReferrerMap(candidates: {
            try store.loadIndex().entries.map { entry in
                ReferrerMap.Candidate(descriptor: StoreIndex.bare(entry.descriptor),
                                      tag: entry.isUnnamed ? nil : entry.name?.tag ?? "")
            }
        }, read: { d in try store.hasBlob(d.digest) ? store.readDocument(d) : nil })
        lock = try store.acquireLock(exclusive: false)
        do {
            selected = try select(try store.loadIndex())
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

    public func blobFile(_ descriptor: Descriptor) -> String? {
        store.hasBlob(descriptor.digest) ? store.blobPath(descriptor.digest) : nil
    }

    public func referrers(of digest: Digest) throws -> [Referrer] { try referrerMap.referrers(of: digest) }

    public func close() { lock.release() }
}
