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

extension ImageGraph {
    /// Indexes nested deeper than this are refused: real images nest one level (an index of
    /// manifests), rarely two; a hostile chain must end in a clear error, not a deep walk.
    public static let maxIndexDepth = 8

    /// The entry of `index` for `platform`: the first whose platform matches (attestations skipped, as
    /// image-index.md says), or the only image when there is one.
    public static func entry(of index: Index, for platform: Platform) -> Descriptor? {
        let images = index.manifests.filter { !Index.isAttestation($0) }
        return images.first { $0.platform.map { $0.matches(platform) } ?? false } ?? (images.count == 1 ? images.first : nil)
    }

    /// The manifest `descriptor` stands for: itself, or through indexes the entry for `platform`.
    public static func manifest(of descriptor: Descriptor, platform: Platform, source: any ImageSource) throws -> Descriptor {
        var current = descriptor
        for _ in 0...maxIndexDepth {
            let bytes = try source.document(current)
            guard try kind(of: current, bytes: bytes) == .index else { return current }
            let index = try JSON.decode(Index.self, from: bytes, what: "index \(current.digest) in \(source.name)")
            guard let chosen = entry(of: index, for: platform) else {
                throw BaleError(.notFound, "index \(current.digest) in \(source.name) has no image for \(platform); use --platform")
            }
            current = chosen
        }
        throw BaleError(.invalidInput, "index \(descriptor.digest) in \(source.name): indexes nested deeper than \(maxIndexDepth)")
    }
}
