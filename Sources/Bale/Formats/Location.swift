import BaleCore
import BaleIO
import Foundation

/// Everything a format needs to open a location.
public struct LocationContext: Sendable {
    /// The store, opened on first use (bare names and `store:`) and then the same object for every
    /// location of this context, so a copy within the store shares one lock instead of waiting for itself.
    public var store: @Sendable () throws -> Store
    /// Where temporary files go (staging for archive-to-archive copies).
    public var temporaryDirectory: String
    /// Whole-archive compression for archive destinations.
    public var compression: ArchiveCompression
    /// Archive destinations are written as parts of at most this many bytes (NAME.000, …, NAME.sha256);
    /// nil: one file.
    public var splitSize: Int64?
    /// What a `rootfs:` source puts into the image it makes (config options, layer compression).
    public var rootfs = RootfsImageOptions(compression: GzipSettings(level: ParallelGzip.defaultLevel,
                                                                     jobs: ProcessInfo.processInfo.activeProcessorCount))
    /// How registry locations (`docker://`) connect, authenticate and pick mirrors.
    public var registry = RegistryOptions()
    /// The Docker engine `docker-daemon:` talks to (`unix:///PATH`); nil: `$DOCKER_HOST`, else
    /// unix:///var/run/docker.sock.
    public var dockerHost: String?
    public init(store: @escaping @Sendable () throws -> Store, temporaryDirectory: String = NSTemporaryDirectory(),
                compression: ArchiveCompression = .none) {
        let opened = OpenedOnce(store)
        self.store = { try opened.value() }
        self.temporaryDirectory = temporaryDirectory
        self.compression = compression
    }
}

/// A value made on first use, then shared (made again only after a failure).
private final class OpenedOnce<T>: @unchecked Sendable {
    // Sendable: `made` is guarded by `lock`; `make` is Sendable.
    private let lock = NSLock()
    private let make: @Sendable () throws -> T
    private var made: T?
    init(_ make: @escaping @Sendable () throws -> T) { self.make = make }
    func value() throws -> T {
        try lock.withLock {
            if let made { return made }
            let value = try make()
            made = value
            return value
        }
    }
}

/// Whole-file compression of an archive bale writes (reading detects any).
public enum ArchiveCompression: String, Sendable, CaseIterable {
    case none, gzip, xz, zstd
}

/// One kind of location: how to open it for reading and for writing. `path` is the part after the
/// prefix and before the first `:`; `reference` the rest, if any.
public protocol LocationFormat: Sendable {
    /// The transport prefix, as skopeo spells it (`docker-archive`).
    static var prefix: String { get }
    /// Whether the location has a path before its reference (false for the store: `store:NAME`).
    static var hasPath: Bool { get }
    /// Whether the reference part names the image (`docker-archive:F:NAME:TAG`), so that a copy gives
    /// the image that name; false where it is only a label (`oci:DIR:REF`).
    static var referenceIsName: Bool { get }
    static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource
    static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination
    /// The images a location holds, as a listing (`bale images --source`), for a location that can say
    /// without reading them (an engine's own list); the default refuses.
    static func list(path: String, reference: String?, context: LocationContext) throws -> [ListedImage]
}

extension LocationFormat {
    public static var hasPath: Bool { true }
    public static var referenceIsName: Bool { false }
    public static func list(path: String, reference: String?, context: LocationContext) throws -> [ListedImage] {
        throw BaleError(.unsupported, "\(prefix): images --source lists only docker-daemon: locations; copy the images into a store and list that")
    }
}

/// One image of a listing (`LocationFormat.list`): what `bale images` shows of it.
public struct ListedImage: Sendable {
    /// The image ID (the config's digest).
    public var id: Digest
    /// Its tags; empty for an untagged image.
    public var names: [Reference]
    /// When it was made, where the location says.
    public var created: Date?
    /// As the location counts it (an engine: the unpacked size).
    public var size: Int64
    public init(id: Digest, names: [Reference], created: Date?, size: Int64) {
        self.id = id
        self.names = names
        self.created = created
        self.size = size
    }
}

/// A parsed location (`docker-archive:FILE[:NAME[:TAG]]`, `oci:DIR[:REF]`, a bare store name…), written
/// like containers-transports(5).
public struct Location: Sendable, CustomStringConvertible {
    /// The one table from prefixes to formats (Formats/Formats.swift); the copier never names a format.
    public static var formats: [any LocationFormat.Type] { Formats.all }

    public let format: any LocationFormat.Type
    public let path: String
    public let reference: String?
    public let description: String

    /// Parses `PREFIX:PATH[:REFERENCE]`; text with no known prefix is a store image name.
    public init(parsing text: String) throws {
        description = text
        for format in Self.formats where text.hasPrefix(format.prefix + ":") {
            let rest = text.dropFirst(format.prefix.count + 1)
            self.format = format
            if !format.hasPath {
                path = ""
                reference = rest.isEmpty ? nil : String(rest)
                return
            }
            if let colon = rest.firstIndex(of: ":") {
                path = String(rest[..<colon])
                let ref = rest[rest.index(after: colon)...]
                reference = ref.isEmpty ? nil : String(ref)
            } else {
                path = String(rest)
                reference = nil
            }
            guard !path.isEmpty else { throw BaleError(.usage, "\(text): the location has no path") }
            return
        }
        format = Formats.fallback
        path = ""
        reference = text
    }

    public func source(_ context: LocationContext) throws -> any ImageSource {
        try format.source(path: path, reference: reference, context: context)
    }

    public func destination(_ context: LocationContext) throws -> any ImageDestination {
        try format.destination(path: path, reference: reference, context: context)
    }

    /// Whether this is the local store (a bare name or `store:`).
    public var isStore: Bool { format.prefix == Formats.fallback.prefix }

    /// The images the location holds, where it can list them (`LocationFormat.list`).
    public func list(_ context: LocationContext) throws -> [ListedImage] {
        try format.list(path: path, reference: reference, context: context)
    }

    /// The name a destination location gives the copied image (`docker-archive:F:NAME:TAG`, a store
    /// name), when it is a name; nil for `@N` or none.
    public var name: Reference? {
        guard let reference, !reference.hasPrefix("@"), format.referenceIsName else { return nil }
        return try? Reference(parsing: reference).withDefaultTag()
    }
}

extension Copier {
    /// Opens both locations and copies every image the source selects (see `copy(from:to:)`). A name
    /// in the destination location (`store:NAME`, `docker-archive:F:NAME`) renames the single image
    /// copied, unless `options.names` says otherwise.
    public func copy(from source: Location, to destination: Location, context: LocationContext) throws -> CopyReport {
        var options = self.options
        if case .keep = options.names, let name = destination.name { options.names = .only(name) }
        let src = try source.source(context)
        let dst: any ImageDestination
        do { dst = try destination.destination(context) } catch { src.close(); throw error }
        return try Copier(options: options).copy(from: src, to: dst)
    }
}
