import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// Helpers of the docker-archive tests: real tars built with BaleIO's TarWriter, loads and saves through
/// the copier, and store snapshots.
enum DockerArchiveKit {
    /// One member of a tar the tests build.
    enum Member {
        case file(String, Data)
        case symlink(String, String)
        case hardlink(String, String)
        case directory(String)
    }

    /// A `ByteSink` collecting everything in memory.
    final class Collect: ByteSink {
        var data = Data()
        func write(_ bytes: UnsafeRawBufferPointer) throws { data.append(contentsOf: bytes) }
    }

    /// A temporary directory removed on deinit.
    final class TempDir {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("bale-darchive-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String) -> String { path + "/" + name }
    }

    /// A tar of `members`, compressed as a whole when asked.
    static func tar(_ members: [Member], compression: TarCompression = .none) throws -> Data {
        let out = Collect()
        let writer = try TarWriter(sink: out, name: "test", compression: compression, normalise: .init())
        for member in members {
            switch member {
            case .file(let path, let data): try writer.writeFile(path: RawPath(path), data: data)
            case .symlink(let path, let target): try writer.writeSymlink(path: RawPath(path), target: RawPath(target))
            case .hardlink(let path, let target): try writer.writeHardlink(path: RawPath(path), target: RawPath(target))
            case .directory(let path): try writer.writeDirectory(path: RawPath(path))
            }
        }
        try writer.finish()
        return out.data
    }

    /// A layer: a real, deterministic tar holding `files`.
    static func layer(_ files: [String: String], compression: TarCompression = .none) throws -> Data {
        try tar(files.sorted { $0.key < $1.key }.map { .file($0.key, Data($0.value.utf8)) }, compression: compression)
    }

    static func sha(_ data: Data) -> Digest { SHA256Hasher.digest(data) }

    /// Deterministic incompressible bytes (xorshift), for members large enough to be cut mid-stream.
    static func noise(_ count: Int) -> Data {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0 ..< count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes[i] = UInt8(truncatingIfNeeded: state)
        }
        return Data(bytes)
    }

    /// A config JSON, written by hand (not canonical), so tests show its bytes are carried as they are.
    static func config(diffIDs: [Digest], arch: String = "amd64", created: String = "2024-05-01T10:00:00Z") -> Data {
        let ids = diffIDs.map { "\"\($0)\"" }.joined(separator: ",")
        return Data("""
            {"architecture":"\(arch)","os":"linux","created":"\(created)","config":{"Cmd":["/bin/sh"]},\
            "rootfs":{"type":"layers","diff_ids":[\(ids)]},"history":[{"created_by":"test"}]}
            """.utf8)
    }

    /// What a store holds, to show a failed load changed nothing.
    struct Snapshot: Equatable {
        var index: Data
        var blobs: [String]
        var ingest: [String]
        /// The layers' uncompressed-size records (`unpacked/sha256/<hex>`), none when absent.
        var unpacked: [String]
    }

    static func snapshot(_ store: Store) throws -> Snapshot {
        let fm = FileManager.default
        return Snapshot(index: fm.contents(atPath: store.root + "/index.json") ?? Data(),
                        blobs: try fm.contentsOfDirectory(atPath: store.root + "/blobs/sha256").sorted(),
                        ingest: try fm.contentsOfDirectory(atPath: store.root + "/ingest").sorted(),
                        unpacked: ((try? fm.contentsOfDirectory(atPath: store.root + "/unpacked/sha256")) ?? []).sorted())
    }

    /// Loads a docker-archive into `store` the way `bale load` does: stage into the store, copy, abort
    /// the destination when staging fails.
    @discardableResult
    static func load(_ source: ArchiveSource, into store: Store,
                     platform: Platform = Platform(os: "linux", architecture: "amd64")) throws -> CopyReport {
        let destination: StoreDestination
        do { destination = try StoreDestination(store: store) } catch { source.close(); throw error }
        return try Copier(options: CopyOptions(platform: platform)).copy(from: source, to: destination)
    }

    /// Loads the archive file at `path`.
    @discardableResult
    static func load(path: String, reference: String? = nil, into store: Store) throws -> CopyReport {
        try load(ArchiveSource(path: path, reference: reference), into: store)
    }

    /// Saves store images (by name or ID) to a docker-archive file.
    @discardableResult
    static func save(_ store: Store, _ images: [String], to path: String,
                     compression: ArchiveCompression = .none) throws -> CopyReport {
        let source = try StoreSource(store: store, selecting: images)
        defer { source.close() }
        let destination = try ArchiveDestination(path: path, compression: compression)
        return try Copier().copy(from: source, to: destination)
    }

    /// Member names and data of an archive file (any compression).
    static func members(_ path: String) throws -> [(path: String, kind: TarEntry.Kind, data: Data)] {
        let reader = try TarReader(path: path)
        var out: [(String, TarEntry.Kind, Data)] = []
        while let entry = try reader.next() {
            out.append((entry.path.description, entry.kind, try reader.readAll(limit: 64 << 20)))
        }
        return out
    }

    /// The error a throwing call raised, as a BaleError.
    static func error(_ body: () throws -> Void) -> BaleError? {
        do {
            try body()
            return nil
        } catch let error as BaleError {
            return error
        } catch {
            return BaleError(.internal, "not a BaleError: \(error)")
        }
    }

    /// The image the store lists for a digest, with its ID.
    static func stored(_ store: Store) throws -> [StoredImage] { try store.images().images }

    /// Writes `data` into a pipe from another thread and returns the read end's descriptor holder.
    static func pipe(_ data: Data) -> Pipe {
        let pipe = Pipe()
        let handle = pipe.fileHandleForWriting
        Thread.detachNewThread {
            handle.write(data)
            try? handle.close()
        }
        return pipe
    }
}
