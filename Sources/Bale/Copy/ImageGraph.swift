import BaleCore
import Foundation

/// Whether a document is a manifest or an index.
public enum DocumentKind: Sendable { case manifest, index }

/// The shape of image graphs: documents (indexes naming manifests, manifests naming a config and
/// layers) read by digest.
public enum ImageGraph {
    /// Whether a document is a manifest or an index: from its media type, else from its shape
    /// (`manifests` → index), as the registry decides (FORMATS.md section 4).
    public static func kind(of descriptor: Descriptor, bytes: Data) throws -> DocumentKind {
        if descriptor.mediaType.isIndex { return .index }
        if descriptor.mediaType.isManifest { return .manifest }
        struct Shape: Decodable { let manifests: [Descriptor]?; let mediaType: MediaType? }
        let shape = try JSON.decode(Shape.self, from: bytes, what: "document \(descriptor.digest)")
        if shape.mediaType?.isIndex == true || shape.manifests != nil { return .index }
        return .manifest
    }
}
