import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// Streams a blob into the store: a temp file under `ingest/`, hashed and counted while written,
    /// compared with `expected` (digest and size) when given, fsynced, then renamed into `blobs/`. On any
    /// error the temp file is removed and nothing else changes. Callers hold the exclusive lock.
    public func ingest(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try BlobFile.write(reader, expected: expected, temporaryDirectory: ingestDir) { blobPath($0) }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw BaleError.posix("write failed", path: path)
            }
            offset += n
        }
    }

    /// Removes the blobs in `candidates` that index.json does not reach (what an aborted or finished
    /// copy staged but no image uses). Callers hold the exclusive lock.
    func removeUnreachable(_ candidates: Set<Digest>) throws {
        guard !candidates.isEmpty else { return }
        let keep = try reachableBlobs(loadIndex())
        for digest in candidates where !keep.contains(digest) {
            unlink(blobPath(digest))
        }
    }
}

/// Writing a blob file safely: the one place where bytes become a file named by their digest.
public enum BlobFile {
    /// Streams `reader` into a temp file in `temporaryDirectory`, hashing and counting (the hashing on a
    /// second thread: `HashingCopy`); checks `expected` (size and digest) when given; fsyncs; renames to
    /// `finalPath(digest)` unless that exists. On any error the temp file is removed.
    public static func write(_ reader: any BlobReader, expected: Descriptor?, temporaryDirectory: String,
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
            (digest, size) = try HashingCopy.copy(
                from: ClosureByteSource { try reader.read(into: $0) },
                to: ClosureByteSink { bytes in
                    try Store.writeAll(fd, bytes, path: tmp)
                    written += Int64(bytes.count)
                    writeback.advance(fd, to: written)
                },
                expected: expected.map { ($0.digest, $0.size) }, name: expected.map { "\($0.digest)" } ?? tmp)
            guard fsync(fd) == 0 else { throw BaleError.posix("fsync failed", path: tmp) }
        }
        let path = finalPath(digest)
        if access(path, F_OK) == 0 { return (digest, size) }
        guard rename(tmp, path) == 0 else { throw BaleError.posix("cannot move \(tmp) into place", path: path) }
        keep = true
        return (digest, size)
    }
}

extension BlobFile {
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
            try data.withUnsafeBytes { try Store.writeAll(fd, $0, path: tmp) }
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

/// A `BlobReader` over a file.
public final class FileBlobReader: BlobReader {
    private var fd: Int32
    private let path: String

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BaleError.posix("cannot open", path: path) }
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
