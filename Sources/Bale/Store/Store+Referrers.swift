import BaleCore
import Foundation

extension Store {
    /// What refers to `digests` (an image's top descriptor and its platform manifest) in the store:
    /// the unnamed index.json entries whose `subject` is one of them, and the cosign tags that name one
    /// (`ReferrerMap`, as a copy from the store finds them). One list, by digest.
    public func referrers(of digests: [Digest]) throws -> [Referrer] {
        let index = try withLock(exclusive: false) { try loadIndex() }
        let candidates = index.entries.map { entry in
            ReferrerMap.Candidate(descriptor: StoreIndex.bare(entry.descriptor),
                                  tag: entry.isUnnamed ? nil : entry.name?.tag ?? "")
        }
        let map = try ReferrerMap.build(candidates, read: { try? hasBlob($0.digest) ? readDocument($0) : nil })
        var seen = Set<Referrer>()
        return digests.flatMap { map[$0] ?? [] }.filter { seen.insert($0).inserted }
    }

    /// Whether a top-level digest of the store is a referrer of another image (kept for its subject,
    /// listed under it rather than as an image of its own).
    func isReferrerEntry(_ entry: StoreIndex.Entry) -> Bool {
        ReferrerMap.isReferrer(ReferrerMap.Candidate(descriptor: StoreIndex.bare(entry.descriptor),
                                                     tag: entry.isUnnamed ? nil : entry.name?.tag ?? ""),
                               read: { try? hasBlob($0.digest) ? readDocument($0) : nil })
    }
}

/// What `bale images --tree` shows under an image: the platforms of an index (those the store holds
/// marked), then what refers to the image.
public struct ImageTree: Sendable {
    /// One platform of an index: its manifest, and whether the store holds it.
    public struct PlatformEntry: Sendable {
        public var platform: Platform?
        public var manifest: Descriptor
        public var present: Bool
    }
    public var platforms: [PlatformEntry] = []
    public var referrers: [Referrer] = []
}

extension Store {
    /// The platforms and referrers of one image, for `images --tree`.
    public func tree(of image: StoredImage) throws -> ImageTree {
        var tree = ImageTree()
        if image.descriptor.mediaType.isIndex || image.descriptor.digest != image.manifestDescriptor.digest {
            let index = try JSON.decode(Index.self, from: readDocument(image.descriptor), what: "index \(image.descriptor.digest)")
            tree.platforms = index.manifests.filter { !Index.isAttestation($0) }.map {
                ImageTree.PlatformEntry(platform: $0.platform, manifest: $0, present: hasBlob($0.digest))
            }
        }
        tree.referrers = try referrers(of: [image.descriptor.digest] + tree.platforms.map(\.manifest.digest)
                                       + [image.manifestDescriptor.digest])
        return tree
    }
}

extension Store {
    /// Removes the referrers whose subject is no longer in the store (after `rmi`): a signature of a
    /// deleted image goes with it, as it would never be copied or served again, and would otherwise keep
    /// the image's blobs alive (garbage collection keeps a referrer's subject). A cosign attachment's
    /// names are reported untagged.
    func removeOrphanedReferrers(_ index: inout StoreIndex, events: inout [RemoveEvent]) {
        let read: (Descriptor) -> Data? = { d in try? self.hasBlob(d.digest) ? self.readDocument(d) : nil }
        let candidates = index.entries.map { entry in
            ReferrerMap.Candidate(descriptor: StoreIndex.bare(entry.descriptor), tag: entry.isUnnamed ? nil : entry.name?.tag ?? "")
        }
        guard let map = try? ReferrerMap.build(candidates, read: read) else { return }
        let referrers = Set(map.values.joined().map(\.descriptor.digest))
        guard !referrers.isEmpty else { return }
        // What the images reach, then what refers to that, to a fixed point (a signature of an SBOM).
        var kept = Set<Digest>()
        let roots = index.entries.map(\.descriptor).filter { !referrers.contains($0.digest) }
        try? ImageGraph.walk(roots, read: read) { d, node in
            if case .leaf = node { return false }
            kept.insert(d.digest)
            return true
        }
        var grew = true
        while grew {
            grew = false
            for (subject, list) in map where kept.contains(subject) {
                for r in list where kept.insert(r.descriptor.digest).inserted { grew = true }
            }
        }
        for digest in referrers.subtracting(kept).sorted() {
            for name in index.names(of: digest) where index.removeName(name) { events.append(.untagged(name)) }
            index.removeImage(digest)
        }
    }
}
