import BaleCore
import Foundation

/// One image in the store: a top-level `index.json` target (a manifest, or an index resolved to the
/// host's platform) with every name that points at it.
public struct StoredImage: Sendable {
    /// The top-level descriptor, without bale's name annotation.
    public let descriptor: Descriptor
    /// Every name pointing at it, sorted; empty for an untagged (`<none>`) image.
    public let names: [Reference]
    /// The manifest chosen for this host when `descriptor` is an index, else `descriptor` itself.
    public let manifestDescriptor: Descriptor
    public let manifest: Parsed<Manifest>
    public let config: Parsed<ImageConfig>
    /// Bytes of the image's blobs in the store (top document, manifest, config, layers; each once).
    public let size: Int64

    /// IMAGE ID, as Docker's classic store shows it: the config digest.
    public var id: Digest { manifest.value.config.digest }
    /// When the image was created (from its config; the epoch when missing).
    public var created: Date { config.value.createdDate }
    /// Every blob the image needs, top document first.
    public var blobs: [Descriptor] {
        var all = [descriptor]
        if manifestDescriptor.digest != descriptor.digest { all.append(manifestDescriptor) }
        return all + [manifest.value.config] + manifest.value.layers
    }
}

extension Store {
    /// Every name in the store, read from index.json alone (no image is loaded).
    public func names() throws -> [Reference] {
        try withLock(exclusive: false) { try loadIndex().entries.compactMap(\.name) }
    }

    /// Reads the store's index.json (callers hold the lock).
    func loadIndex() throws -> StoreIndex {
        if isAbsent { return try StoreIndex(bytes: JSON.canonical(Index(mediaType: .ociIndex, manifests: [])), path: indexPath) }
        return try StoreIndex(bytes: try readFile(indexPath, limit: 64 << 20), path: indexPath)
    }

    /// Replaces index.json atomically (callers hold the exclusive lock).
    func saveIndex(_ index: StoreIndex) throws {
        try writeAtomically(try index.encoded(), to: indexPath)
    }

    /// Resolves a top-level descriptor to an image: an index is narrowed to the entry for `platform`
    /// (attestations skipped, first match wins, as image-index.md says).
    func loadImage(_ descriptor: Descriptor, names: [Reference], platform: Platform = .host) throws -> StoredImage {
        var size = Int64(0)
        var counted = Set<Digest>()
        func count(_ d: Descriptor) {
            if counted.insert(d.digest).inserted, let s = blobSize(d.digest) { size += s }
        }
        let manifestDescriptor = try ImageGraph.manifest(of: descriptor, platform: platform, location: "store \(root)") {
            hasBlob($0.digest) ? try readDocument($0) : nil
        }.descriptor
        let bytes = try readDocument(manifestDescriptor)
        count(descriptor)
        count(manifestDescriptor)
        let manifest = try JSON.parse(Manifest.self, from: bytes, what: "manifest \(manifestDescriptor.digest)")
        let configBytes = try readDocument(manifest.value.config)
        let config = try JSON.parse(ImageConfig.self, from: configBytes, what: "config \(manifest.value.config.digest)")
        count(manifest.value.config)
        manifest.value.layers.forEach(count)
        return StoredImage(descriptor: StoreIndex.bare(descriptor), names: names,
                           manifestDescriptor: manifestDescriptor, manifest: manifest, config: config, size: size)
    }

    /// Every image in the store, with the problems met on the way (an image whose blobs are missing or
    /// damaged is reported, not listed).
    public func images() throws -> (images: [StoredImage], problems: [BaleError]) {
        try withLock(exclusive: false) { try images(in: loadIndex()) }
    }

    func images(in index: StoreIndex) -> (images: [StoredImage], problems: [BaleError]) {
        var images: [StoredImage] = []
        var problems: [BaleError] = []
        for digest in index.digests {
            guard let descriptor = index.descriptor(of: digest) else { continue }
            let names = index.names(of: digest)
            // Referrers (cosign tags, unnamed entries with a subject) are listed under their image.
            if names.isEmpty ? isReferrerEntry(StoreIndex.Entry(descriptor: descriptor, name: nil))
                : names.allSatisfy({ $0.tag.flatMap(Referrer.cosignSubject(ofTag:)) != nil }) { continue }
            do {
                images.append(try loadImage(descriptor, names: names))
            } catch let error as BaleError {
                problems.append(BaleError(error.code, "image \(digest): \(error.message)", cause: error.cause))
            } catch {
                problems.append(BaleError(.internal, "image \(digest): \(error)"))
            }
        }
        return (images, problems)
    }
}
