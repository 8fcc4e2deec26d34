import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a write treats what is already there and the disk it writes to.
public struct BlobWritePolicy: Sendable {
    /// Also hash a blob file of the right size before keeping it instead of the bytes just written
    /// (`--verify-existing`); without it a file is trusted when its size is right.
    public var verifyExisting = false
    /// Free bytes the file system must keep: writing stops with an error before it falls below.
    public var reserve = DiskReserve()
    public init(verifyExisting: Bool = false, reserve: DiskReserve = DiskReserve()) {
        self.verifyExisting = verifyExisting
        self.reserve = reserve
    }
}

/// Free space a write must leave on its file system (`--min-free`), so that a hostile input that
/// expands without bound (a gzip bomb, a tar member declaring a huge sparse file) stops with a clear
/// error instead of filling the disk.
public struct DiskReserve: Sendable {
    /// The reserve in bytes; nil: 1 GiB or 5 % of the file system, whichever is less.
    public var bytes: Int64?
    /// The most a write goes between two looks at the free space (statvfs is cheap, but not per block);
    /// near the reserve it looks more often, so it stops before the disk is full.
    static let maxCheckInterval: Int64 = 8 << 20

    public init(bytes: Int64? = nil) { self.bytes = bytes }

    /// Throws when the file system holding `fd` has less than the reserve free; `path` names it.
    /// Returns how many bytes may be written before the next check: half the room left above the
    /// reserve (several blobs are written at once), at most `maxCheckInterval`.
    @discardableResult
    public func check(_ fd: Int32, path: String) throws -> Int64 {
        var st = statvfs()
        guard fstatvfs(fd, &st) == 0 else { return Self.maxCheckInterval }
        let unit = Int64(st.f_frsize)
        let free = Int64(st.f_bavail) * unit
        let reserve = bytes ?? min(1 << 30, Int64(st.f_blocks) * unit / 20)
        guard free < reserve else { return max(64 << 10, min(Self.maxCheckInterval, (free - reserve) / 4)) }
        throw BaleError(.io, "\((path as NSString).deletingLastPathComponent): stopped writing: \(free) bytes free, below the reserve of \(reserve) bytes (--min-free)")
    }
}

/// Writing a blob file safely: the one place where bytes become a file named by their digest.
public enum BlobFile {
    /// Whether the blob file at `path` may stand for `digest` of `size` bytes: it exists with that
    /// size and, when `verify`, hashes to `digest`. A damaged file is then replaced by the bytes at hand,
    /// never trusted by its name.
    public static func isIntact(_ path: String, digest: Digest, size: Int64?, verify: Bool) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        if let size, Int64(st.st_size) != size { return false }
        guard verify else { return true }
        return (try? hashFile(path))?.0 == digest
    }

    /// SHA-256 and size of a file, read once in 1 MiB chunks.
    public static func hashFile(_ path: String) throws -> (Digest, Int64) {
        let fd = try RegularFile.open(path)
        defer { close(fd) }
        var hasher = SHA256Hasher()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw BaleError.posix("read failed", path: path)
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
        return (hasher.finalize(), total)
    }

    /// Streams `reader` into a temp file in `temporaryDirectory`, hashing and counting; checks `expected`
    /// (size and digest) when given; fsyncs; renames to `finalPath(digest)` unless an intact blob file is
    /// there (`isIntact`), replacing a damaged one. Stops when the file system falls below
    /// `policy.reserve`. On any error the temp file is removed.
    public static func write(_ reader: any BlobReader, expected: Descriptor?, temporaryDirectory: String,
                             policy: BlobWritePolicy = BlobWritePolicy(),
                             finalPath: (Digest) -> String) throws -> (digest: Digest, size: Int64) {
        let tmp = "\(temporaryDirectory)/.tmp-\(expected?.digest.encoded ?? "stream")-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BaleError.posix("cannot create temp file", path: tmp) }
        var keep = false
        defer { if !keep { unlink(tmp) } }
        let digest: Digest
        let size: Int64
        do {
            defer { close(fd) }
            var written: Int64 = 0
            var writeback = Writeback()
            var nextCheck: Int64 = 0
            // The SHA-256 runs on a second thread while this one reads and writes (HashingCopy); size and
            // digest are checked against `expected` before the file is fsynced and renamed.
            (digest, size) = try HashingCopy.copy(
                from: reader,
                to: ClosureByteSink { bytes in
                    try writeAll(fd, bytes, name: tmp)
                    written += Int64(bytes.count)
                    writeback.advance(fd, to: written)
                    if written >= nextCheck { nextCheck = written + (try policy.reserve.check(fd, path: tmp)) }
                },
                expected: expected.map { ($0.digest, $0.size) }, name: expected.map { "\($0.digest)" } ?? tmp)
            guard fsync(fd) == 0 else { throw BaleError.posix("fsync failed", path: tmp) }
        }
        let path = finalPath(digest)
        if isIntact(path, digest: digest, size: size, verify: policy.verifyExisting) { return (digest, size) }
        guard rename(tmp, path) == 0 else { throw BaleError.posix("cannot move \(tmp) into place", path: path) }
        keep = true
        return (digest, size)
    }
}

extension BlobFile {
    /// Writes what `produce` writes into a temp file in `temporaryDirectory` (with early writeback),
    /// fsyncs it and renames it to `finalPath(digest)` for the digest `produce` returns, unless that
    /// exists. On any error the temp file is removed.
    public static func produce(temporaryDirectory: String, policy: BlobWritePolicy = BlobWritePolicy(),
                               finalPath: (Digest) -> String,
                               _ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let file = try AtomicFile(directory: temporaryDirectory)
        do {
            let result = try produce(ReserveCheckingSink(file: file, reserve: policy.reserve))
            let path = finalPath(result.digest)
            if isIntact(path, digest: result.digest, size: result.size, verify: policy.verifyExisting) {
                file.discard()
            } else {
                try file.commit(to: path)
            }
            return result
        } catch {
            file.discard()
            throw error
        }
    }

    /// Writes `data` to a temp file, fsyncs it, renames it over `path` and fsyncs the directory: readers
    /// see the old bytes or the new, never a mix. `durable` false skips both fsyncs, for a cache whose
    /// loss costs only a recomputation (a load of 10 000 layers paid 20 000 fsyncs for its records).
    /// `mode` is the new file's (0600 for a file that holds secrets: it never exists more open).
    public static func replace(_ path: String, with data: Data, temporaryDirectory tempDirectory: String? = nil,
                               durable: Bool = true, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmpDir = tempDirectory ?? dir
        let tmp = "\(tmpDir)/.tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BaleError.posix("cannot create temp file", path: tmp) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { try writeAll(fd, $0, name: tmp) }
            guard !durable || fsync(fd) == 0 else { throw BaleError.posix("fsync failed", path: tmp) }
        }
        guard rename(tmp, path) == 0 else { throw BaleError.posix("cannot rename \(tmp) into place", path: path) }
        ok = true
        guard durable else { return }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

/// An `AtomicFile` that checks the disk reserve as it grows.
private final class ReserveCheckingSink: ByteSink {
    private let file: AtomicFile
    private let reserve: DiskReserve
    private var nextCheck: Int64 = 0
    init(file: AtomicFile, reserve: DiskReserve) {
        self.file = file
        self.reserve = reserve
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes)
        if file.byteCount >= nextCheck {
            nextCheck = file.byteCount + (try reserve.check(file.fileDescriptor, path: file.temporaryPath))
        }
    }
}

/// A `BlobReader` over a regular file (`RegularFile`: a FIFO or device is refused).
public final class FileBlobReader: BlobReader {
    private var fd: Int32
    private let path: String

    public init(path: String) throws {
        self.path = path
        fd = try RegularFile.open(path)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw BaleError.posix("read failed", path: path) }
        }
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}

/// A temporary directory of blobs named by digest: where a streaming source stages blobs when the
/// destination is a tar stream. Removed on deinit.
public final class TemporaryBlobSink: BlobSink, @unchecked Sendable {
    // Sendable: immutable; each blob is written to a temp file and renamed, so puts may run at once.
    public let path: String

    public init(parent: String) throws {
        path = "\(parent)/bale-staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BaleError(.io, "\(path): cannot create the staging directory", cause: error)
        }
    }

    private func blobPath(_ digest: Digest) -> String { "\(path)/\(digest.algorithm.rawValue)-\(digest.encoded)" }

    public func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try BlobFile.write(reader, expected: expected, temporaryDirectory: path) { blobPath($0) }
    }

    public func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        try BlobFile.produce(temporaryDirectory: path, finalPath: { blobPath($0) }, produce)
    }

    public func open(_ digest: Digest) throws -> any BlobReader { try FileBlobReader(path: blobPath(digest)) }

    public func file(_ digest: Digest) -> String? { contains(digest, size: nil) ? blobPath(digest) : nil }

    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        BlobFile.isIntact(blobPath(digest), digest: digest, size: size, verify: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
