import Foundation

/// An image manifest: OCI (`image.manifest.v1+json`) and Docker schema 2 share this shape
/// (image-spec manifest.md; distribution manifest-v2-2.md).
///
/// ```
/// { "schemaVersion": 2, "mediaType": "…manifest…",
///   "config": <descriptor>, "layers": [<descriptor>, …],   base layer first
///   "subject"?, "annotations"?, "artifactType"? }
/// ```
public struct Manifest: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: MediaType?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: MediaType, config: Descriptor, layers: [Descriptor],
                annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try decodeSchemaVersion2(c, .schemaVersion)
        mediaType = try c.decodeIfPresent(MediaType.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        config = try c.decode(Descriptor.self, forKey: .config)
        layers = try c.decodeIfPresent([Descriptor].self, forKey: .layers) ?? []
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }
}

/// An image index or Docker manifest list (image-spec image-index.md).
///
/// ```
/// { "schemaVersion": 2, "mediaType": "…index…",
///   "manifests": [<descriptor with platform?, annotations?>, …], "annotations"? }
/// ```
public struct Index: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: MediaType?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: MediaType? = .ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try decodeSchemaVersion2(c, .schemaVersion)
        mediaType = try c.decodeIfPresent(MediaType.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        manifests = try c.decode([Descriptor].self, forKey: .manifests)
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    /// Index entries that are BuildKit attestations (`unknown/unknown` + reference type), which are
    /// never images to list or run (FORMATS.md section 0).
    public static func isAttestation(_ d: Descriptor) -> Bool {
        d.annotations?["vnd.docker.reference.type"] == "attestation-manifest"
    }
}

/// Decodes `schemaVersion`, which both manifests and indexes must give as 2.
private func decodeSchemaVersion2<Key: CodingKey>(_ c: KeyedDecodingContainer<Key>, _ key: Key) throws -> Int {
    let version = try c.decode(Int.self, forKey: key)
    guard version == 2 else {
        throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "schemaVersion \(version), expected 2")
    }
    return version
}
