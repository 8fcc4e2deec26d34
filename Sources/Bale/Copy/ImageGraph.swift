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

    /// What `walk` found a descriptor to be.
    public enum Node {
        case index(Index)
        case manifest(Manifest)
        /// A config, a layer, an unknown blob, or a document `read` did not give.
        case leaf
    }

    /// Visits every descriptor reachable from `roots` once (by digest), parents before children, with
    /// a queue rather than recursion, so an input that nests indexes deeply cannot deepen the stack; an
    /// index nested deeper than `maxIndexDepth` is refused. `read` returns a document's verified bytes,
    /// or nil to treat it as a leaf (absent, or not to be opened); layers and configs are never read.
    /// A manifest's children are its config and layers, leaves whatever media type they claim (a blob
    /// labelled as a manifest is still a blob: reading it as one would fail on a valid layer, or go down
    /// a path the manifest does not describe); an index's, its entries. `visit` gets each descriptor with
    /// what it is and may return false to stop below it.
    public static func walk(_ roots: [Descriptor], read: (Descriptor) throws -> Data?,
                            visit: (Descriptor, Node) throws -> Bool) throws {
        var queue: [(descriptor: Descriptor, depth: Int, blob: Bool)] = roots.map { ($0, 0, false) }
        var seen = Set<Digest>()
        var next = 0
        while next < queue.count {
            let (descriptor, depth, blob) = queue[next]
            next += 1
            guard seen.insert(descriptor.digest).inserted else { continue }
            let node = blob ? .leaf : try parse(descriptor, read: read)
            guard try visit(descriptor, node) else { continue }
            switch node {
            case .index(let index):
                guard depth < maxIndexDepth else {
                    throw BaleError(.invalidInput, "index \(descriptor.digest): indexes nested deeper than \(maxIndexDepth)")
                }
                queue += index.manifests.map { ($0, depth + 1, false) }
            case .manifest(let manifest):
                queue += ([manifest.config] + manifest.layers).map { ($0, depth + 1, true) }
            case .leaf:
                break
            }
        }
    }

    /// Reads and parses one descriptor for `walk`. A blob of an unknown type is a manifest only when
    /// it parses as one with a config (the registry's rule for untyped documents).
    private static func parse(_ descriptor: Descriptor, read: (Descriptor) throws -> Data?) throws -> Node {
        let type = descriptor.mediaType
        guard !type.isLayer, !type.isConfig, let bytes = try read(descriptor) else { return .leaf }
        let what = "\(descriptor.digest)"
        // A blob of an unknown type that is no JSON is a leaf: an artifact's layer (a signature, an
        // SBOM) may be anything.
        let typed = type.isManifest || type.isIndex
        guard let documentKind = typed ? try kind(of: descriptor, bytes: bytes) : try? kind(of: descriptor, bytes: bytes) else {
            return .leaf
        }
        switch documentKind {
        case .index:
            return .index(try JSON.decode(Index.self, from: bytes, what: "index " + what))
        case .manifest where type.isManifest:
            return .manifest(try JSON.decode(Manifest.self, from: bytes, what: "manifest " + what))
        case .manifest:
            struct Shape: Decodable { let config: Descriptor? }
            guard (try? JSONDecoder().decode(Shape.self, from: bytes))?.config != nil else { return .leaf }
            return .manifest(try JSON.decode(Manifest.self, from: bytes, what: "manifest " + what))
        }
    }

    /// The entry of `index` for `platform` among those `present` allows: the first whose platform
    /// matches (attestations skipped, as image-index.md says), or the only image when there is one.
    public static func entry(of index: Index, for platform: Platform,
                             present: (Descriptor) -> Bool = { _ in true }) -> Descriptor? {
        // `present` is asked once per blob, not per entry: an index may name one manifest thousands of
        // times (platforms and annotations are the entry's own), and reading and hashing it for every
        // entry made listing such an image take minutes.
        var known: [Descriptor: Bool] = [:]
        func isPresent(_ entry: Descriptor) -> Bool {
            if let answer = known[entry.blob] { return answer }
            let answer = present(entry)
            known[entry.blob] = answer
            return answer
        }
        let images = index.manifests.filter { !Index.isAttestation($0) && isPresent($0) }
        return images.first { $0.platform.map { $0.matches(platform) } ?? false } ?? (images.count == 1 ? images.first : nil)
    }

    /// The error for an index without an entry for `platform`: it names the platforms the index does
    /// hold, so that the next `--platform` (the one refused may be the user's own) can name one.
    static func noImage(in index: Index, _ digest: Digest, location: String, for platform: Platform) -> BaleError {
        let held = index.manifests.filter { !Index.isAttestation($0) }.compactMap { $0.platform.map { "\($0)" } }
        return BaleError(.notFound, "index \(digest) in \(location) has no image for \(platform) (it holds \(held.isEmpty ? "no platform" : held.joined(separator: ", "))); name one with --platform, or copy them all with --all-platforms")
    }

    /// The manifest `descriptor` stands for: itself, or through indexes the entry for `platform`
    /// (among the entries `read` gives). `location` names where, for messages.
    public static func manifest(of descriptor: Descriptor, platform: Platform, location: String,
                                read: (Descriptor) throws -> Data?) throws -> (descriptor: Descriptor, manifest: Manifest) {
        var current = descriptor
        for _ in 0...maxIndexDepth {
            guard let bytes = try read(current) else {
                throw BaleError(.notFound, "\(location): \(current.digest) is missing")
            }
            guard try kind(of: current, bytes: bytes) == .index else {
                return (current, try JSON.decode(Manifest.self, from: bytes, what: "manifest \(current.digest) in \(location)"))
            }
            let index = try JSON.decode(Index.self, from: bytes, what: "index \(current.digest) in \(location)")
            guard let chosen = entry(of: index, for: platform, present: { (try? read($0)) != nil }) else {
                throw noImage(in: index, current.digest, location: location, for: platform)
            }
            current = chosen
        }
        throw BaleError(.invalidInput, "index \(descriptor.digest) in \(location): indexes nested deeper than \(maxIndexDepth)")
    }

    /// `manifest(of:platform:location:read:)` over a source's documents.
    public static func manifest(of descriptor: Descriptor, platform: Platform,
                                source: any ImageSource) throws -> (descriptor: Descriptor, manifest: Manifest) {
        try manifest(of: descriptor, platform: platform, location: source.name) { try source.document($0) }
    }
}
