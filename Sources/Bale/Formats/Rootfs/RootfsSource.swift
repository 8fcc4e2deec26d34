import BaleCore
import BaleIO
import Foundation

/// A rootfs read as one new layer, on top of a base image or of nothing: `import` and
/// `copy rootfs:PATH …` (no base: a one-layer OCI image for the options' platform), `commit` (the base
/// plus the layer; its manifest family, OCI or Docker, follows the base's). Staging compresses the
/// layer once, straight into the destination's blob sink (or the copier's staging directory), and makes
/// the config and manifest, kept in memory; the copier then finds the layer already there. The base's
/// blobs come from its own source.
///
/// The layer is the input tar's decompressed bytes verbatim, or a directory archived — against a base,
/// only what changed from the base's flattened tree, deletions as whiteouts.
public final class RootfsSource: StreamingImageSource, @unchecked Sendable {
    // Sendable: `staged` and `made` are written once by `stage`, guarded by `lock`.
    private let input: LayerInput
    private let base: (any ImageSource)?
    private let options: RootfsImageOptions
    private let lock = NSLock()
    private var staged: RootfsImage?
    private var made: RootfsImageResult?
    public let name: String

    /// `options` gives the config's platform, changes, message and names, and the layer's compression.
    /// `base`, when given, selects exactly one image, and is closed with this source.
    public init(input: LayerInput, base: (any ImageSource)? = nil, options: RootfsImageOptions) throws {
        self.input = input
        self.base = base
        self.options = options
        switch input {
        case .file(let path):
            name = "rootfs:\(path)"
            guard access(path, F_OK) == 0 else {
                base?.close()
                throw BaleError.posix("cannot open", path: path)
            }
        case .standardInput: name = "rootfs:-"
        case .directory(let path): name = "rootfs:\(path)"
        }
    }

    /// After staging (and after `close`): the image made, with its ID and the warnings met.
    public var result: RootfsImageResult? { lock.withLock { made } }

    public func stage(into sink: any BlobSink) throws {
        let baseImage = try base.map { try Self.baseImage($0, platform: options.platform) }
        let warnings = WarningList()
        let compressor = LayerCompressor(settings: options.compression, sink: sink)
        var layer: IngestedLayer
        var changes: [LayerChange]?
        switch (input, baseImage) {
        case (.directory(let dir), nil):
            try RootfsImage.checkDirectory(dir)
            let clamp = options.sourceDateEpoch.map { TarTime(seconds: $0) }
            layer = try compressor.compressProduced(name: dir) { writer in
                try DirectoryArchiver(root: dir, clamp: clamp, warn: { warnings.add($0) }).archive(to: writer)
            }
        case (.directory(let dir), let (_, tree)?):
            tree.refused.forEach { warnings.add("base image: \($0)") }
            tree.warnings.forEach { warnings.add("base image: \($0)") }
            try RootfsImage.checkDirectory(dir)
            let clamp = options.sourceDateEpoch.map { TarTime(seconds: $0) }
            // The members' paths as the differ writes them: what the layer records, with no second read.
            let written = Collected<RawPath>()
            layer = try compressor.compressProduced(name: dir) { writer in
                writer.onEntry = { written.add($0) }
                let archiver = DirectoryArchiver(root: dir, clamp: clamp, warn: { warnings.add($0) })
                return try Differ(base: tree, archiver: archiver).write(to: writer).newest
            }
            changes = LayerChange.changes(of: written.all, against: tree)
        default:
            layer = try compressor.compressTar(input)
        }
        var image: RootfsImage
        if let (manifest, _) = baseImage, let base {
            let config = try RootfsConfig.committed(base: base.document(manifest.config), id: manifest.config.digest,
                                                    options: options, layer: layer)
            let docker = manifest.mediaType?.isDocker ?? manifest.config.mediaType.isDocker
            let added = Descriptor(mediaType: docker ? .dockerLayerGzip : .ociLayerGzip, digest: layer.result.digest,
                                   size: layer.result.compressedSize)
            image = try RootfsImage(config: config, configType: docker ? .dockerConfig : .ociConfig,
                                    manifestType: docker ? .dockerManifest : .ociManifest,
                                    layers: manifest.layers + [added], layer: layer.result,
                                    warnings: warnings.all, sink: sink)
        } else {
            image = try RootfsImage(config: try RootfsConfig.imported(options, layer: layer),
                                    configType: .ociConfig, manifestType: .ociManifest,
                                    layers: [Descriptor(mediaType: .ociLayerGzip, digest: layer.result.digest,
                                                        size: layer.result.compressedSize)],
                                    layer: layer.result, warnings: warnings.all, sink: sink)
        }
        image.result.changes = changes
        let made = image
        lock.withLock { staged = made; self.made = made.result }
    }

    /// The base's manifest for `platform`, and its flattened tree (built from the base's own layer files).
    private static func baseImage(_ base: any ImageSource, platform: Platform) throws -> (Manifest, FlatTree) {
        let images = try base.images()
        guard images.count == 1 else {
            throw BaleError(.usage, "\(base.name): the base must be one image, it holds \(images.count)")
        }
        let manifest = try ImageGraph.manifest(of: images[0].descriptor, platform: platform, source: base).manifest
        let files = try manifest.layers.map { layer -> LayerFile in
            guard let file = base.blobFile(layer) else {
                throw BaleError(.unsupported, "\(base.name): layer \(layer.digest) is not a file bale can read in place; copy the base into the store first")
            }
            return (layer.digest, file)
        }
        return (manifest, try FlatTree(layers: files))
    }

    public func images() throws -> [SourceImage] {
        [SourceImage(descriptor: try state().result.manifest, names: options.names)]
    }

    public func document(_ descriptor: Descriptor) throws -> Data {
        let s = try state()
        if s.documents[descriptor.digest] == nil, let base { return try base.document(descriptor) }
        return try s.document(descriptor, in: name)
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        let s = try state()
        if s.documents[descriptor.digest] == nil, descriptor.digest != s.result.layer.digest, let base {
            return try base.openBlob(descriptor)
        }
        return try s.openBlob(descriptor, in: name)
    }

    public func blobFile(_ descriptor: Descriptor) -> String? {
        guard let s = try? state() else { return nil }
        return descriptor.digest == s.result.layer.digest ? s.sink.file(descriptor.digest) : base?.blobFile(descriptor)
    }

    public var warnings: [String] { result?.warnings ?? [] }

    public func close() {
        lock.withLock { staged = nil }
        base?.close()
    }

    private func state() throws -> RootfsImage {
        guard let s = lock.withLock({ staged }) else { throw BaleError(.internal, "\(name): read before staging") }
        return s
    }
}

/// The image a rootfs or commit source made: its documents in memory, its new layer in the sink.
struct RootfsImage: Sendable {
    let documents: [Digest: Data]
    var result: RootfsImageResult
    let sink: any BlobSink

    init(config: Data, configType: MediaType, manifestType: MediaType, layers: [Descriptor],
         layer: CompressionResult, warnings: [String], sink: any BlobSink) throws {
        let configDescriptor = Descriptor(mediaType: configType, digest: SHA256Hasher.digest(config),
                                          size: Int64(config.count))
        let manifest = try JSON.canonical(Manifest(mediaType: manifestType, config: configDescriptor, layers: layers))
        let manifestDescriptor = Descriptor(mediaType: manifestType, digest: SHA256Hasher.digest(manifest),
                                            size: Int64(manifest.count))
        documents = [configDescriptor.digest: config, manifestDescriptor.digest: manifest]
        result = RootfsImageResult(id: configDescriptor.digest, manifest: manifestDescriptor, layer: layer, warnings: warnings)
        self.sink = sink
    }

    func document(_ descriptor: Descriptor, in location: String) throws -> Data {
        guard let data = documents[descriptor.digest] else {
            throw BaleError(.notFound, "\(location): no document \(descriptor.digest)")
        }
        try descriptor.verify(data, in: location)
        return data
    }

    func openBlob(_ descriptor: Descriptor, in location: String) throws -> any BlobReader {
        if let data = documents[descriptor.digest] { return DataReader(data) }
        guard descriptor.digest == result.layer.digest else {
            throw BaleError(.notFound, "\(location): no blob \(descriptor.digest)")
        }
        return try sink.open(descriptor.digest)
    }

    static func checkDirectory(_ dir: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BaleError(.notFound, "\(dir): no such directory")
        }
    }
}
