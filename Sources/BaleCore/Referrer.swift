import Foundation

/// Something that refers to an image: an OCI 1.1 referrer (a manifest or index whose `subject` is the
/// image's digest; image-spec manifest.md, distribution-spec "Listing Referrers") or a sigstore/cosign
/// attachment (a manifest tagged `sha256-<hex>.sig`, `.att` or `.sbom` in the image's repository).
///
/// ```
/// OCI 1.1     { …, "artifactType": "application/vnd.example.sig", "subject": {digest of the image} }
///             found by the referrers API, or the fallback tag sha256-<hex> (an index of them)
/// cosign      tag sha256-<hex>.sig → a manifest whose layers are signatures; <hex> names the image
/// ```
///
/// Either way its bytes are kept exactly: a referrer signs or describes a digest, so neither it nor its
/// subject may change on the way.
public struct Referrer: Hashable, Sendable {
    /// The referrer's manifest (or index): media type, digest and size, with `artifactType` and the
    /// manifest's annotations as the referrers API lists them.
    public var descriptor: Descriptor
    /// The digest of the manifest or index it refers to.
    public var subject: Digest
    /// The tag a cosign attachment lives under; nil for an OCI 1.1 referrer (found by its `subject`).
    public var tag: String?

    public init(descriptor: Descriptor, subject: Digest, tag: String? = nil) {
        self.descriptor = descriptor
        self.subject = subject
        self.tag = tag
    }

    /// The suffixes of cosign's attachment tags: signatures, attestations, SBOMs.
    public static let cosignSuffixes = ["sig", "att", "sbom"]

    /// The subject a cosign attachment tag names (`sha256-<hex>.sig` → `sha256:<hex>`); nil for any
    /// other tag.
    public static func cosignSubject(ofTag tag: String) -> Digest? {
        guard tag.hasPrefix("sha256-"), let dot = tag.lastIndex(of: "."),
              cosignSuffixes.contains(String(tag[tag.index(after: dot)...])) else { return nil }
        return try? Digest(sha256Hex: String(tag[tag.index(tag.startIndex, offsetBy: 7)..<dot]))
    }

    /// The referrers tag schema's fallback tag of a digest (`sha256:<hex>` → `sha256-<hex>`): an index
    /// of its referrers, kept where a registry has no referrers API.
    public static func fallbackTag(for digest: Digest) -> String {
        "\(digest.algorithm.rawValue)-\(digest.encoded)"
    }

    /// Whether a tag is a fallback tag (`sha256-<hex>`) or a cosign attachment's: a tag that holds what
    /// refers to an image, not an image.
    public static func isReferrerTag(_ tag: String) -> Bool {
        if cosignSubject(ofTag: tag) != nil { return true }
        return tag.hasPrefix("sha256-") && (try? Digest(sha256Hex: String(tag.dropFirst(7)))) != nil
    }

    /// The descriptor the referrers API lists for a referrer document: its own media type, digest and
    /// size, with its `artifactType` (a manifest's config media type when it has none) and annotations.
    public static func listed(_ descriptor: Descriptor, document bytes: Data) -> (descriptor: Descriptor, subject: Digest?) {
        struct Shape: Decodable {
            let mediaType: MediaType?
            let artifactType: String?
            let config: Descriptor?
            let subject: Descriptor?
            let annotations: [String: String]?
        }
        guard let shape = try? JSONDecoder().decode(Shape.self, from: bytes) else { return (descriptor, nil) }
        var d = Descriptor(mediaType: shape.mediaType ?? descriptor.mediaType, digest: descriptor.digest,
                           size: descriptor.size, annotations: shape.annotations)
        d.artifactType = shape.artifactType ?? shape.config?.mediaType.rawValue
        return (d, shape.subject?.digest)
    }
}
