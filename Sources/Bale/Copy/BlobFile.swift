import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writing a blob file safely: the one place where bytes become a file named by their digest.
public enum BlobFile {
    /// Streams `reader` into a temp file in `temporaryDirectory`, hashing and counting; checks `expected`
    /// (size and digest) when given; fsyncs; renames to `finalPath(digest)` unless that exists. On any
    /// error the temp file is removed.
    public static func write(_ reader: any BlobReader, expected: Descriptor?, temporaryDirectory: String,
                             finalPath: (Digest) -> String) throws -> (digest: Digest, size: Int64) {
        let tmp = "\(temporaryDirectory)/.tmp-\(expected?.digest.encoded ?? "stream")-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BaleError.posix("cannot create temp file", path: tmp) }
        var keep = false
        defer { if !keep { unlink(tmp) } }
        var hasher = SHA256Hasher()
        var size: Int64 = 0
        var writeback = Writeback()
        do {
            defer { close(fd) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try reader.read(into: buffer)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher.update(chunk)
                size += Int64(n)
                if let expected, size > expected.size {
                    throw BaleError(.integrity, "\(expected.digest): more than the \(expected.size) bytes its descriptor gives")
                }
                try writeAll(fd, chunk, name: tmp)
                writeback.advance(fd, to: size)
            }
            guard fsync(fd) == 0 else { throw BaleError.posix("fsync failed", path: tmp) }
        }
        let digest = hasher.finalize()
        if let expected {
            guard size == expected.size else {
                throw BaleError(.integrity, "\(expected.digest): \(size) bytes, its descriptor gives \(expected.size)")
            }
            guard digest == expected.digest else {
                throw BaleError(.integrity, "\(expected.digest): content does not match the digest (it hashes to \(digest))")
            }
        }
        let path = finalPath(digest)
        if access(path, F_OK) == 0 { return (digest, size) }
        guard rename(tmp, path) == 0 else { throw BaleError.posix("cannot move \(tmp) into place", path: path) }
        keep = true
        return (digest, size)
    }
}

extension BlobFile {
    /// Writes what `produce` writes into a temp file in `temporaryDirectory` (with early writeback),
    /// fsyncs it and renames it to `finalPath(digest)` for the digest `produce` returns, unless that
    /// exists. On any error the temp file is removed.
    public static func produce(temporaryDirectory: String, finalPath: (Digest) -> String,
                               _ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let file = try AtomicFile(directory: temporaryDirectory)
        do {
            let result = try produce(file)
            let path = finalPath(result.digest)
            if access(path, F_OK) == 0 {
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
    /// see the old bytes or the new, never a mix.
    public static func replace(_ path: String, with data: Data, temporaryDirectory tempDirectory: String? = nil) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmpDir = tempDirectory ?? dir
        let tmp = "\(tmpDir)/.tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BaleError.posix("cannot create temp file", path: tmp) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { try writeAll(fd, $0, name: tmp) }
            guard fsync(fd) == 0 else { throw BaleError.posix("fsync failed", path: tmp) }
        }
        guard rename(tmp, path) == 0 else { throw BaleError.posix("cannot rename \(tmp) into place", path: path) }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
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

    public func file(_ digest: Digest) -> String? { contains(digest) ? blobPath(digest) : nil }

    public func contains(_ digest: Digest) -> Bool { access(blobPath(digest), F_OK) == 0 }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
