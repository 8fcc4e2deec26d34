import BaleCore
import BaleIO
import Foundation

/// A rootfs read as a one-layer image (`import`; `copy rootfs:PATH …`). Staging compresses the layer
/// once, straight into the destination's blob sink (or the copier's staging directory), and makes the
/// config and manifest, which it keeps in memory; the copier then finds the layer already there.
public final class RootfsSource: StreamingImageSource, @unchecked Sendable {
    // Sendable: `staged` is written once by `stage` and read afterwards, guarded by `lock`.
    private let input: LayerInput
    private let options: RootfsImageOptions
    private let lock = NSLock()
    private var staged: RootfsImage?
    private var made: RootfsImageResult?
    public let name: String

    /// `options` gives the config's platform, changes, message and names, and the layer's compression.
    public init(input: LayerInput, options: RootfsImageOptions) throws {
        self.input = input
        self.options = options
        switch input {
        case .file(let path):
            name = "rootfs:\(path)"
            guard access(path, F_OK) == 0 else { throw BaleError.posix("cannot open", path: path) }
        case .standardInput: name = "rootfs:-"
        case .directory(let path): name = "rootfs:\(path)"
        }
    }

    /// After staging: the image made, with its ID and the warnings met.
    public var result: RootfsImageResult? { lock.withLock { made } }

    public func stage(into sink: any BlobSink) throws {
        let warnings = WarningList()
        let compressor = LayerCompressor(settings: options.compression, sink: sink)
        let layer: IngestedLayer
        if case .directory(let dir) = input {
            try RootfsImage.checkDirectory(dir)
            let clamp = options.sourceDateEpoch.map { TarTime(seconds: $0) }
            layer = try compressor.compressProduced(name: dir) { writer in
                try DirectoryArchiver(root: dir, clamp: clamp, warn: { warnings.add($0) }).archive(to: writer)
            }
        } else {
            layer = try compressor.compressTar(input)
        }
        let config = try RootfsConfig.imported(options, layer: layer)
        let image = try RootfsImage(config: config, configType: .ociConfig, manifestType: .ociManifest,
                                    layers: [Descriptor(mediaType: .ociLayerGzip, digest: layer.result.digest,
                                                        size: layer.result.compressedSize)],
                                    layer: layer.result, warnings: warnings.all, sink: sink)
        lock.withLock { staged = image; made = image.result }
    }

    public func images() throws -> [SourceImage] {
        [SourceImage(descriptor: try state().result.manifest, names: options.names)]
    }

    public func document(_ descriptor: Descriptor) throws -> Data { try state().document(descriptor, in: name) }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader { try state().openBlob(descriptor, in: name) }

    public func blobFile(_ descriptor: Descriptor) -> String? { (try? state())?.sink.file(descriptor.digest) }

    public var warnings: [String] { result?.warnings ?? [] }

    public func close() { lock.withLock { staged = nil } }

    private func state() throws -> RootfsImage {
        guard let s = lock.withLock({ staged }) else { throw BaleError(.internal, "\(name): read before staging") }
        return s
    }
}

/// A base image plus one layer (`commit`): a tar as given, or what changed in a directory against the
/// base's flattened tree (deletions become whiteouts). The base's blobs come from its own source; the
/// new layer, config and manifest are made when staged. The manifest family (OCI or Docker) follows
/// the base's.
public final class CommitSource: StreamingImageSource, @unchecked Sendable {
    // Sendable: `staged` is written once by `stage` and read afterwards, guarded by `lock`.
    private let base: any ImageSource
    private let input: LayerInput
    private let options: RootfsImageOptions
    private let lock = NSLock()
    private var staged: RootfsImage?
    private var made: RootfsImageResult?
    public let name: String

    /// `base` selects exactly one image; it is closed with this source.
    public init(base: any ImageSource, input: LayerInput, options: RootfsImageOptions) {
        self.base = base
        self.input = input
        self.options = options
        name = "commit on \(base.name)"
    }

    public var result: RootfsImageResult? { lock.withLock { made } }

    public func stage(into sink: any BlobSink) throws {
        let images = try base.images()
        guard images.count == 1 else {
            throw BaleError(.usage, "\(base.name): the base must be one image, it holds \(images.count)")
        }
        let manifest = try ImageGraph.manifest(of: images[0].descriptor, platform: options.platform, source: base).manifest
        let baseConfig = try base.document(manifest.config)
        let warnings = WarningList()
        let compressor = LayerCompressor(settings: options.compression, sink: sink)
        let layer: IngestedLayer
        var changes: [LayerChange]?
        if case .directory(let dir) = input {
            let files = try manifest.layers.map { layer -> LayerFile in
                guard let file = base.blobFile(layer) else {
                    throw BaleError(.unsupported, "\(base.name): layer \(layer.digest) is not a file bale can read in place; copy the base into the store first")
                }
                return (layer.digest, file)
            }
            let tree = try FlatTree(layers: files)
            tree.refused.forEach { warnings.add("base image: \($0)") }
            let clamp = options.sourceDateEpoch.map { TarTime(seconds: $0) }
            try RootfsImage.checkDirectory(dir)
            layer = try compressor.compressProduced(name: dir) { writer in
                let archiver = DirectoryArchiver(root: dir, clamp: clamp, warn: { warnings.add($0) })
                return try Differ(base: tree, archiver: archiver).write(to: writer).newest
            }
            // Read back from the layer as written (headers only): what was recorded, not what was meant.
            if let file = sink.file(layer.result.digest) {
                changes = try LayerChange.changes(in: TarReader(path: file), against: tree)
            }
        } else {
            layer = try compressor.compressTar(input)
        }
        let config = try RootfsConfig.committed(base: baseConfig, id: manifest.config.digest, options: options, layer: layer)
        let docker = manifest.mediaType?.isDocker ?? manifest.config.mediaType.isDocker
        let added = Descriptor(mediaType: docker ? .dockerLayerGzip : .ociLayerGzip, digest: layer.result.digest,
                               size: layer.result.compressedSize)
        var image = try RootfsImage(config: config, configType: docker ? .dockerConfig : .ociConfig,
                                    manifestType: docker ? .dockerManifest : .ociManifest,
                                    layers: manifest.layers + [added], layer: layer.result,
                                    warnings: warnings.all, sink: sink)
        image.result.changes = changes
        lock.withLock { staged = image; made = image.result }
    }

    public func images() throws -> [SourceImage] {
        [SourceImage(descriptor: try state().result.manifest, names: options.names)]
    }

    public func document(_ descriptor: Descriptor) throws -> Data {
        let s = try state()
        return s.documents[descriptor.digest] != nil ? try s.document(descriptor, in: name) : try base.document(descriptor)
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        let s = try state()
        if s.documents[descriptor.digest] != nil || descriptor.digest == s.result.layer.digest {
            return try s.openBlob(descriptor, in: name)
        }
        return try base.openBlob(descriptor)
    }

    public func blobFile(_ descriptor: Descriptor) -> String? {
        guard let s = try? state() else { return nil }
        return descriptor.digest == s.result.layer.digest ? s.sink.file(descriptor.digest) : base.blobFile(descriptor)
    }

    public var warnings: [String] { result?.warnings ?? [] }

    public func close() {
        lock.withLock { staged = nil }
        base.close()
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
