import BaleCore
import Foundation

/// How a location that keeps manifests side by side (the store, an OCI layout, an archive's index.json,
/// a registry tree's revisions and tags) answers "what refers to this digest": once, by reading every
/// candidate, into a map from subject to referrers. A candidate under a cosign tag
/// (`sha256-<hex>.sig`) refers to the digest its tag names; any other is read and refers to its
/// `subject`, if it has one.
///
/// In an index.json (the store, OCI layouts, archives) bale keeps an OCI 1.1 referrer as an entry
/// without a name, as oras does, and a cosign attachment as an entry named by its tag, as skopeo writes
/// `oci:DIR:sha256-<hex>.sig`; a registry tree keeps them as the registry does: revisions, and tags.
public final class ReferrerMap: @unchecked Sendable {
    // Sendable: `map` is built once under `lock`.
    /// A manifest or index the location holds, with the tag it is kept under, if any.
    public struct Candidate: Sendable {
        public var descriptor: Descriptor
        public var tag: String?
        public init(descriptor: Descriptor, tag: String?) {
            self.descriptor = descriptor
            self.tag = tag
        }
    }

    private let lock = NSLock()
    private var map: [Digest: [Referrer]]?
    private let candidates: @Sendable () throws -> [Candidate]
    private let read: @Sendable (Descriptor) throws -> Data?

    /// `candidates` lists what may be a referrer; `read` gives a document's verified bytes (nil: absent).
    /// Neither is called before the first question.
    public init(candidates: @escaping @Sendable () throws -> [Candidate],
                read: @escaping @Sendable (Descriptor) throws -> Data?) {
        self.candidates = candidates
        self.read = read
    }

    /// The referrers of `digest`, by digest then tag.
    public func referrers(of digest: Digest) throws -> [Referrer] {
        try lock.withLock {
            if map == nil { map = try Self.build(candidates(), read: read) }
            return map?[digest] ?? []
        }
    }

    /// Whether a candidate (an index.json entry, a tag) is a referrer rather than an image: a cosign tag,
    /// or an untagged document with a `subject`.
    public static func isReferrer(_ candidate: Candidate, read: (Descriptor) throws -> Data?) -> Bool {
        if let tag = candidate.tag { return Referrer.cosignSubject(ofTag: tag) != nil }
        guard candidate.descriptor.size <= Int64(JSON.maxDocumentSize),
              let bytes = try? read(candidate.descriptor) else { return false }
        return Referrer.listed(candidate.descriptor, document: bytes).subject != nil
    }

    static func build(_ candidates: [Candidate], read: (Descriptor) throws -> Data?) throws -> [Digest: [Referrer]] {
        var map: [Digest: [Referrer]] = [:]
        var seen = Set<Referrer>()
        for candidate in candidates {
            let d = candidate.descriptor
            let cosign = candidate.tag.flatMap(Referrer.cosignSubject(ofTag:))
            guard cosign != nil || candidate.tag == nil, d.size <= Int64(JSON.maxDocumentSize),
                  d.mediaType.isManifest || d.mediaType.isIndex || d.mediaType.rawValue.isEmpty,
                  let bytes = try read(d) else { continue }
            let (listed, subject) = Referrer.listed(d, document: bytes)
            guard let about = cosign ?? subject else { continue }
            let referrer = Referrer(descriptor: listed, subject: about, tag: cosign == nil ? nil : candidate.tag)
            if seen.insert(referrer).inserted { map[about, default: []].append(referrer) }
        }
        for key in map.keys {
            map[key]!.sort { ($0.descriptor.digest, $0.tag ?? "") < ($1.descriptor.digest, $1.tag ?? "") }
        }
        return map
    }
}
