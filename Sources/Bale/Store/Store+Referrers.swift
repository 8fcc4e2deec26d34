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
