/// A media type string with the constants of image-spec and Docker's distribution spec
/// (FORMATS.md section 0). Unknown types are carried as they are, never an error.
public struct MediaType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
                         ExpressibleByStringLiteral {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    // OCI
    public static let ociManifest: MediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex: MediaType = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig: MediaType = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer: MediaType = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip: MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd: MediaType = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayoutHeader: MediaType = "application/vnd.oci.layout.header.v1+json"
    public static let ociEmpty: MediaType = "application/vnd.oci.empty.v1+json"
    // Docker schema 2
    public static let dockerManifest: MediaType = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList: MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig: MediaType = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer: MediaType = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip: MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerZstd: MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    public static let dockerForeignLayerGzip: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    /// An image manifest (OCI or Docker schema 2).
    public var isManifest: Bool { self == .ociManifest || self == .dockerManifest }
    /// An index or manifest list.
    public var isIndex: Bool { self == .ociIndex || self == .dockerManifestList }
    /// An image config (OCI or Docker).
    public var isConfig: Bool { self == .ociConfig || self == .dockerConfig }
    /// Any layer type, including non-distributable ones.
    public var isLayer: Bool {
        rawValue.hasPrefix("application/vnd.oci.image.layer.") ||
        rawValue.hasPrefix("application/vnd.docker.image.rootfs.")
    }
    /// Whether this is one of Docker's `application/vnd.docker.` types.
    public var isDocker: Bool { rawValue.hasPrefix("application/vnd.docker.") }
}
