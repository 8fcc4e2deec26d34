import BaleCore
import BaleIO
import Foundation

/// What `import` and `commit` put into the new config besides the layer.
public struct RootfsImageOptions: Sendable {
    /// `--change` instructions.
    public var changes: [String] = []
    /// `-m`: the history comment (and, for import, the config's `comment`).
    public var message: String?
    /// `-a` (commit only): the config's and the history entry's `author`.
    public var author: String?
    /// The image's platform (import only; commit keeps the base's).
    public var platform: Platform = .host
    /// SOURCE_DATE_EPOCH: the creation time, and the latest mtime a directory's members get.
    public var sourceDateEpoch: Int64?
    /// Names to give the new image.
    public var names: [Reference] = []
    /// How the layer is compressed.
    public var compression: GzipSettings

    /// Options with the given compression and everything else empty or default.
    public init(compression: GzipSettings) {
        self.compression = compression
    }

    /// The SOURCE_DATE_EPOCH of `environment`, when set to an integer.
    public static func sourceDateEpoch(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int64? {
        guard let text = environment["SOURCE_DATE_EPOCH"], !text.isEmpty else { return nil }
        guard let value = Int64(text) else {
            throw BaleError(.usage, "SOURCE_DATE_EPOCH=\(text) is not a number of seconds")
        }
        return value
    }
}

/// The outcome of `import` or `commit`.
public struct RootfsImageResult: Sendable {
    /// The image ID (config digest).
    public var id: Digest
    /// The stored manifest's descriptor.
    public var manifest: Descriptor
    /// The new layer.
    public var layer: CompressionResult
    /// Warnings met on the way (skipped sockets, …).
    public var warnings: [String]
}

/// Collects warnings from another thread.
final class WarningList: @unchecked Sendable {
    // @unchecked Sendable: `items` is guarded by `lock`.
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ text: String) { lock.withLock { items.append(text) } }
    var all: [String] { lock.withLock { items } }
}

extension Store {
    /// `bale import`: one rootfs (tar file, stdin or directory) → a one-layer OCI image.
    ///
    /// `created` is SOURCE_DATE_EPOCH when set, else the newest mtime in the input (the epoch for an
    /// input without members), never the current time: the same input then always gives the same image
    /// ID, which the docker behaviour (`created` = now) cannot.
    public func importRootfs(_ input: LayerInput, options: RootfsImageOptions) throws -> RootfsImageResult {
        let warnings = WarningList()
        return try withLock(exclusive: true) {
            let layer = try ingestLayer(input, options: options, warnings: warnings)
            let created = Self.createdTime(options.sourceDateEpoch, layer.newest, floor: nil)
            var config: [String: JSONValue] = [
                "architecture": .string(options.platform.architecture),
                "os": .string(options.platform.os),
                "created": .string(created),
                "config": try ConfigChanges.apply(options.changes, to: .object([:])),
                "rootfs": .object(["type": .string("layers"), "diff_ids": .strings([layer.result.diffID.string])]),
            ]
            if let variant = options.platform.variant { config["variant"] = .string(variant) }
            var history: [String: JSONValue] = ["created": .string(created)]
            if let message = options.message, !message.isEmpty {
                config["comment"] = .string(message)
                history["comment"] = .string(message)
            }
            config["history"] = .array([.object(history)])
            let layerDescriptor = Descriptor(mediaType: .ociLayerGzip, digest: layer.result.digest,
                                             size: layer.result.compressedSize)
            return try storeImage(config: .object(config), configType: .ociConfig, manifestType: .ociManifest,
                                  layers: [layerDescriptor], names: options.names, layer: layer.result,
                                  warnings: warnings.all)
        }
    }

    /// `bale commit`: the image `base` plus one layer (a tar as given, or the changes between a
    /// directory and the base's flattened tree). The manifest family (OCI or Docker) follows the base's.
    public func commitRootfs(base: String, input: LayerInput, options: RootfsImageOptions) throws -> RootfsImageResult {
        let warnings = WarningList()
        return try withLock(exclusive: true) {
            let image = try resolve(base, in: images(in: loadIndex()).images)
            let layer: IngestedLayer
            if case .directory(let dir) = input {
                let tree = try FlatTree(layers: image.manifest.value.layers.map { ($0.digest, blobPath($0.digest)) })
                tree.refused.forEach { warnings.add("base image: \($0)") }
                tree.warnings.forEach { warnings.add("base image: \($0)") }
                let clamp = options.sourceDateEpoch.map { TarTime(seconds: $0) }
                try Self.checkDirectory(dir)
                layer = try ingestProduced(compression: options.compression, name: dir) { writer in
                    let archiver = DirectoryArchiver(root: dir, clamp: clamp, warn: { warnings.add($0) })
                    return try Differ(base: tree, archiver: archiver).write(to: writer).newest
                }
            } else {
                layer = try ingestLayer(input, options: options, warnings: warnings)
            }
            guard case .object(var config) = try JSON.decode(JSONValue.self, from: image.config.bytes,
                                                              what: "config \(image.id)") else {
                throw BaleError(.invalidInput, "config \(image.id): not a JSON object")
            }
            let created = Self.createdTime(options.sourceDateEpoch, layer.newest, floor: image.config.value.created)
            config["created"] = .string(created)
            if let author = options.author { config["author"] = .string(author) }
            config["config"] = try ConfigChanges.apply(options.changes, to: config["config"] ?? .null)
            var rootfs = config["rootfs"]?.object ?? ["type": .string("layers")]
            rootfs["diff_ids"] = .array((rootfs["diff_ids"]?.array ?? []) + [.string(layer.result.diffID.string)])
            config["rootfs"] = .object(rootfs)
            var entry: [String: JSONValue] = ["created": .string(created), "created_by": .string("bale commit")]
            if let author = options.author, !author.isEmpty { entry["author"] = .string(author) }
            if let message = options.message, !message.isEmpty { entry["comment"] = .string(message) }
            config["history"] = .array((config["history"]?.array ?? []) + [.object(entry)])

            let docker = image.manifest.value.mediaType?.isDocker ?? image.manifest.value.config.mediaType.isDocker
            let layerDescriptor = Descriptor(mediaType: docker ? .dockerLayerGzip : .ociLayerGzip,
                                             digest: layer.result.digest, size: layer.result.compressedSize)
            return try storeImage(config: .object(config), configType: docker ? .dockerConfig : .ociConfig,
                                  manifestType: docker ? .dockerManifest : .ociManifest,
                                  layers: image.manifest.value.layers + [layerDescriptor], names: options.names,
                                  layer: layer.result, warnings: warnings.all)
        }
    }

    /// Writes config and manifest and records the image (callers hold the exclusive lock).
    private func storeImage(config: JSONValue, configType: MediaType, manifestType: MediaType,
                            layers: [Descriptor], names: [Reference], layer: CompressionResult,
                            warnings: [String]) throws -> RootfsImageResult {
        let configBytes = try JSON.canonical(config)
        let configDescriptor = Descriptor(mediaType: configType, digest: try putBlob(configBytes),
                                          size: Int64(configBytes.count))
        let manifestBytes = try JSON.canonical(Manifest(mediaType: manifestType, config: configDescriptor, layers: layers))
        let manifest = Descriptor(mediaType: manifestType, digest: try putBlob(manifestBytes),
                                  size: Int64(manifestBytes.count))
        _ = try addImageLocked(manifest, names: names)
        return RootfsImageResult(id: configDescriptor.digest, manifest: manifest, layer: layer, warnings: warnings)
    }

    /// A tar input verbatim, or a directory archived.
    private func ingestLayer(_ input: LayerInput, options: RootfsImageOptions, warnings: WarningList) throws -> IngestedLayer {
        guard case .directory(let dir) = input else {
            return try ingestTarFile(input, compression: options.compression)
        }
        try Self.checkDirectory(dir)
        let clamp = options.sourceDateEpoch.map { TarTime(seconds: $0) }
        return try ingestProduced(compression: options.compression, name: dir) { writer in
            try DirectoryArchiver(root: dir, clamp: clamp, warn: { warnings.add($0) }).archive(to: writer)
        }
    }

    static func checkDirectory(_ dir: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BaleError(.notFound, "\(dir): no such directory")
        }
    }

    /// SOURCE_DATE_EPOCH, else the newest mtime of the layer's members (not before `floor`, the base's
    /// time, so a commit is never older than its base), else the floor or the epoch.
    static func createdTime(_ epoch: Int64?, _ newest: TarTime?, floor: String?) -> String {
        if let epoch { return RFC3339.format(Date(timeIntervalSince1970: TimeInterval(epoch))) }
        let floorDate = floor.flatMap(RFC3339.parse)
        guard let newest else { return floor.flatMap { floorDate != nil ? $0 : nil } ?? RFC3339.format(Date(timeIntervalSince1970: 0)) }
        // Whole seconds: the string must not depend on Double rounding of nanoseconds.
        let date = Date(timeIntervalSince1970: TimeInterval(newest.seconds))
        if let floorDate, let floor, floorDate > date { return floor }
        return RFC3339.format(date)
    }

    /// `bale export`: the image's layers flattened, as a tar on `fileDescriptor` or extracted into a
    /// directory. Returns the refused members (each also reported through `warn` as met) and warnings.
    public func exportRootfs(_ imageName: String, toTar fileDescriptor: Int32? = nil, tarName: String = "<stdout>",
                             toDirectory directory: String? = nil) throws -> (refused: [RefusedMember], warnings: [String]) {
        // The shared lock is held throughout, so no `rmi` can collect a layer while it is read.
        try withLock(exclusive: false) {
            let image = try resolve(imageName, in: images(in: loadIndex()).images)
            let layers = image.manifest.value.layers.map { ($0.digest, blobPath($0.digest)) }
            if let directory {
                let extractor = try Extractor(target: directory)
                let refused = try extractor.extract(layers)
                return (refused, extractor.warnings)
            }
            let tree = try FlatTree(layers: layers)
            let writer = try TarWriter(fileDescriptor: fileDescriptor ?? 1, name: tarName)
            var warnings: [String] = []
            try Self.writeTar(tree, layers: layers, to: writer, warnings: &warnings)
            try writer.finish()
            return (tree.refused, warnings)
        }
    }

    /// Writes a flattened tree as one tar: directories first (parents first), then every other path in
    /// layer order with its data, hard links after their targets. Adds the tree's warnings (members it
    /// dropped) and the members skipped here to `warnings`.
    static func writeTar(_ tree: FlatTree, layers: [LayerFile], to writer: TarWriter, warnings: inout [String]) throws {
        for var dir in tree.directories() {
            dir.path.bytes.append(UInt8(ascii: "/"))
            try writer.writeEntry(dir)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var skipped: [String] = []
        try tree.forEachPlanned(tree.plan(), in: layers) { outputs, _, reader in
            for output in outputs {
                switch output {
                case .link(let header, _):
                    try writer.writeEntry(header)
                case .data(var header):
                    if header.kind == .other {
                        skipped.append("\(header.path): member of an unsupported kind skipped")
                        continue
                    }
                    if header.kind == .hardlink { header.kind = .file }
                    header.linkTarget = header.kind == .symlink ? header.linkTarget : nil
                    header.sparseMap = nil
                    guard header.kind == .file else {
                        try writer.writeEntry(header)
                        continue
                    }
                    try writer.beginEntry(header)
                    while true {
                        let n = try reader.read(into: buffer)
                        if n == 0 { break }
                        try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    }
                    try writer.endEntry()
                }
            }
        }
        warnings += tree.warnings + skipped
    }
}
