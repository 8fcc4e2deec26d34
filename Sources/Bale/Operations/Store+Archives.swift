import BaleCore
import Foundation

// `load` and `save` as the copies they are: an archive into the store, images of the store into an
// archive; what they print is worked out here, where it is tested without a process.

/// What `bale load` did, and docker's lines for it.
public struct LoadReport: Sendable {
    /// Names that moved off another image (another image ID), with the ID of the image they left.
    public var moved: [(name: Reference, oldID: Digest)] = []
    /// The images loaded: their IDs and names.
    public var loaded: [(id: Digest, names: [Reference])] = []
    /// The copy itself.
    public var copy: CopyReport

    /// docker's lines: `The image NAME already exists, renaming the old one with ID … to empty
    /// string` for each moved name, then `Loaded image: NAME:TAG` per name, or `Loaded image ID: …`
    /// for an untagged image.
    public var lines: [String] {
        moved.map { "The image \($0.name.familiar) already exists, renaming the old one with ID \($0.oldID) to empty string" }
            + loaded.flatMap { image in
                image.names.isEmpty ? ["Loaded image ID: \(image.id)"]
                    : image.names.map { "Loaded image: \($0.withDefaultTag().familiar)" }
            }
    }
}

/// The archive format `save` writes.
public enum SaveFormat: String, Sendable, CaseIterable {
    /// docker save's, both forms at once (manifest.json and the OCI layout).
    case docker
    /// An OCI image layout in a tar.
    case oci
}

extension Store {
    /// `bale load`: every image of a docker-archive or oci-archive (`path` nil or `-`: stdin; a split
    /// archive by NAME, NAME.000 or NAME.sha256, its parts checked first) into this store. `verifyExisting` re-hashes blobs the store already holds with the right size, and
    /// replaces those that are damaged.
    public func load(archive path: String?, verifyExisting: Bool = false, options: CopyOptions) throws -> LoadReport {
        let source = try path.flatMap { $0 == "-" ? nil : $0 }.map { try ArchiveSource(path: $0, reference: nil, name: $0) }
            ?? ArchiveSource(fileDescriptor: 0, reference: nil, name: "<stdin>")
        let destination: StoreDestination
        do {
            destination = try StoreDestination(store: self, verifyExisting: verifyExisting)
        } catch {
            source.close()
            throw error
        }
        let copy = try Copier(options: options).copy(from: source, to: destination)
        var report = LoadReport(copy: copy)
        // Only the IDs printed are looked up (a top digest's ID is its config digest): listing the whole
        // store here was quadratic in a load of thousands of images.
        let ids = try imageIDs(of: Array(destination.moved.values) + copy.images.map(\.descriptor.digest))
        report.loaded = copy.images.map { (ids[$0.descriptor.digest] ?? $0.descriptor.digest, $0.names) }
        let loadedID = Dictionary(report.loaded.flatMap { image in image.names.map { ($0.withDefaultTag(), image.id) } }) { first, _ in first }
        // docker announces a name only when it leaves another image ID (moby's setLoadedTag: prevID !=
        // imgID); a name moving to another manifest of the same config (a `docker save` of an image
        // pulled before) still names the same image.
        report.moved = destination.moved.sorted { $0.key < $1.key }.map { ($0.key, ids[$0.value] ?? $0.value) }
            .filter { loadedID[$0.0] != $0.1 }
        return report
    }

    /// `bale save`: images of this store (names, NAME@DIGEST, IDs or ID prefixes) into one archive at
    /// `path` (`-`: stdout). `since` lists earlier archives whose blobs are left out (an incremental
    /// archive); `options.names` = `.none` writes the images without names. `splitSize` writes the
    /// archive as parts of at most that many bytes (PATH.000 …, PATH.sha256).
    @discardableResult
    public func save(_ images: [String], to path: String, format: SaveFormat, compression: ArchiveCompression,
                     since: [String] = [], splitSize: Int64? = nil, options: CopyOptions) throws -> CopyReport {
        var options = options
        for earlier in since {
            options.omit.merge(try Incremental.carriedBlobs(inArchive: earlier)) { first, _ in first }
        }
        return try Self.save(StoreSource(store: self, selecting: images), to: path, format: format,
                             compression: compression, splitSize: splitSize, options: options)
    }

    /// What every `save` does with its source: one archive at `path` (`-`: stdout), split when asked.
    /// The source is closed whatever happens.
    static func save(_ source: any ImageSource, to path: String, format: SaveFormat, compression: ArchiveCompression,
                     splitSize: Int64?, options: CopyOptions) throws -> CopyReport {
        let destination: ArchiveDestination
        do {
            destination = try ArchiveDestination(path: path, compression: compression,
                                                 form: format == .oci ? .oci(reference: nil) : .docker,
                                                 temporaryDirectory: options.temporaryDirectory,
                                                 name: "\(format == .oci ? "oci-archive" : "docker-archive"):\(path)",
                                                 splitSize: splitSize)
        } catch {
            source.close()
            throw error
        }
        return try Copier(options: options).copy(from: source, to: destination)
    }
}
