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
    /// For `commit DIR`: what the new layer adds, changes and deletes (docker diff's lines).
    public var changes: [LayerChange]?
}

/// Collects items (warnings, paths) from another thread.
final class Collected<Item>: @unchecked Sendable {
    // @unchecked Sendable: `items` is guarded by `lock`.
    private let lock = NSLock()
    private var items: [Item] = []
    func add(_ item: Item) { lock.withLock { items.append(item) } }
    var all: [Item] { lock.withLock { items } }
}

/// Warnings collected from another thread.
typealias WarningList = Collected<String>

/// The configs `import` and `commit` write: canonical JSON, so the same input gives the same image ID.
enum RootfsConfig {
    /// `bale import`'s config: the platform, `--change`s applied to an empty config, one layer.
    ///
    /// `created` is SOURCE_DATE_EPOCH when set, else the newest mtime in the input (the epoch for an
    /// input without members), never the current time: the same input then always gives the same image
    /// ID, which the docker behaviour (`created` = now) cannot.
    static func imported(_ options: RootfsImageOptions, layer: IngestedLayer) throws -> Data {
        let created = createdTime(options.sourceDateEpoch, layer.newest, floor: nil)
        var config: [String: JSONValue] = [
            "architecture": .string(options.platform.architecture),
            "os": .string(options.platform.os),
            "created": .string(created),
            "config": try ConfigChanges.apply(options.changes, to: .object([:])),
            "rootfs": .object(["type": .string("layers"), "diff_ids": .strings([layer.result.diffID.string])]),
        ]
        if let variant = options.platform.variant { config["variant"] = .string(variant) }
        // docker writes "Imported from " + its source, and its client always sends the file on stdin,
        // so docker's images all say "Imported from -" unless -m replaces it.
        let comment = options.message.flatMap { $0.isEmpty ? nil : $0 } ?? "Imported from -"
        config["comment"] = .string(comment)
        config["history"] = .array([.object(["created": .string(created), "comment": .string(comment)])])
        return try JSON.canonical(JSONValue.object(config))
    }

    /// `bale commit`'s config: the base's, byte for byte in every key it does not change, plus the layer's
    /// DiffID, a history entry, `-a`, and `--change`s applied to the base's container config.
    static func committed(base bytes: Data, id: Digest, options: RootfsImageOptions, layer: IngestedLayer) throws -> Data {
        guard case .object(var config) = try JSON.decode(JSONValue.self, from: bytes, what: "config \(id)") else {
            throw BaleError(.invalidInput, "config \(id): not a JSON object")
        }
        let baseCreated = try JSON.decode(ImageConfig.self, from: bytes, what: "config \(id)").created
        let created = createdTime(options.sourceDateEpoch, layer.newest, floor: baseCreated)
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
        return try JSON.canonical(JSONValue.object(config))
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

}

/// A flattened image written as one tar.
enum FlatTar {
    /// Writes a flattened tree as one tar: directories first (parents first), then every other path in
    /// layer order with its data, hard links after their targets. A sparse file stays sparse: its
    /// extents are copied as the layer stores them and its holes are never materialised, so a small
    /// layer declaring a huge sparse file gives a small tar.
    static func writeTar(_ tree: FlatTree, layers: [LayerFile], to writer: TarWriter, warnings: inout [String]) throws {
        for var dir in tree.directories() {
            dir.path.bytes.append(UInt8(ascii: "/"))
            try writer.writeEntry(dir)
        }
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
                    guard header.kind == .file else {
                        header.sparseMap = nil
                        try writer.writeEntry(header)
                        continue
                    }
                    // Block by block with offsets: a sparse member's extents, holes skipped (the writer
                    // checks each block lands where the map says).
                    try writer.beginEntry(header)
                    while try reader.readBlock({ offset, bytes in try writer.write(bytes, at: offset) }) != nil {}
                    try writer.endEntry()
                }
            }
        }
        warnings += tree.warnings + skipped
    }
}
