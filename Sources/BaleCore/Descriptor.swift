import Foundation

/// A content descriptor (image-spec descriptor.md): what a blob is, its digest and its size.
public struct Descriptor: Hashable, Sendable, Codable {
    public var mediaType: MediaType
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    /// Embedded content, base64 (kept as given).
    public var data: String?
    public var artifactType: String?
    /// Only on index entries.
    public var platform: Platform?

    public init(mediaType: MediaType, digest: Digest, size: Int64, annotations: [String: String]? = nil,
                platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decodeIfPresent(MediaType.self, forKey: .mediaType) ?? MediaType("")
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size")
        }
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        data = try c.decodeIfPresent(String.self, forKey: .data)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
    }

    /// Annotation keys bale reads and writes.
    public enum Annotation {
        /// The tag (or, in bale's store, the full normalised reference) of an index.json entry.
        public static let refName = "org.opencontainers.image.ref.name"
        /// containerd's full image name on index.json entries (Docker 25+ `docker save`).
        public static let containerdImageName = "io.containerd.image.name"
        /// Creation time (RFC 3339).
        public static let created = "org.opencontainers.image.created"
    }
}

extension Descriptor {
    /// The descriptor without the annotations that name it in an index.json (ref.name and containerd's
    /// image name): what stays true of the image wherever it is copied.
    public var withoutNames: Descriptor {
        var d = self
        d.annotations?.removeValue(forKey: Annotation.refName)
        d.annotations?.removeValue(forKey: Annotation.containerdImageName)
        if d.annotations?.isEmpty == true { d.annotations = nil }
        return d
    }

    /// The blob an index entry names, without what belongs to the entry (its platform and annotations):
    /// the key under which entries naming one manifest are the same, however many an index holds.
    public var blob: Descriptor {
        var d = self
        (d.platform, d.annotations) = (nil, nil)
        return d
    }
}
