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
        let tmp = "\(ingestDir)/\(expected?.digest.encoded ?? "stream")-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BaleError.posix("cannot create ingest file", path: tmp) }
        var keep = false
        defer { if !keep { unlink(tmp) } }
        var hasher = SHA256Hasher()
        var size: Int64 = 0
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
                try Self.writeAll(fd, chunk, path: tmp)
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
        if hasBlob(digest) { return (digest, size) }
        guard rename(tmp, blobPath(digest)) == 0 else {
            throw BaleError.posix("cannot move \(tmp) into place", path: blobPath(digest))
        }
        keep = true
        return (digest, size)
    }

    /// Writes all of `bytes` to `fd`, retrying short writes.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
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
