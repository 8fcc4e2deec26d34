import BaleCore
import BaleIO
import Foundation

/// The sink `bale serve` stages an archive into: for a blob whose reader says where its bytes lie in
/// the archive (`PlacedBlobReader`: a member of an uncompressed tar) it keeps only that place, so the
/// archive is served by offset and never unpacked; anything else (a member with no place: sparse, or
/// in a compressed stream) is copied into a temporary directory.
///
/// The place is checked, not trusted: while the archive's single pass streams a member through
/// libarchive (which the source hashes against the member's digest), this sink reads the same bytes at
/// the claimed offset with `pread` and compares them, chunk by chunk. A place is kept only when every
/// byte matched and the stream ended exactly at the region's end, so what is later served by offset
/// is byte for byte what was verified. The second read hits the page cache libarchive just filled.
public final class RegionSink: BlobSink, @unchecked Sendable {
    // Sendable: `regions` is guarded by `lock`; the staging sink is safe to share.
    private let lock = NSLock()
    private var regions: [Digest: FileRegion] = [:]
    private let staging: TemporaryBlobSink
    private let chunkSize = 1 << 20

    /// `temporaryDirectory`: where members with no place are copied.
    public init(temporaryDirectory: String) throws {
        staging = try TemporaryBlobSink(parent: temporaryDirectory)
    }

    /// Where a blob put earlier lies: its place in the archive, or its staged copy.
    public func region(_ digest: Digest) -> FileRegion? {
        if let region = lock.withLock({ regions[digest] }) { return region }
        guard let file = staging.file(digest), let size = Self.fileSize(file) else { return nil }
        return FileRegion(path: file, offset: 0, length: size)
    }

    public func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        guard let placed = reader as? any PlacedBlobReader else { return try staging.put(reader, expected: expected) }
        let region = placed.region
        let file = try RegionBlobReader(region)
        defer { file.close() }
        var hasher = SHA256Hasher()
        var size: Int64 = 0
        let stream = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        let there = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { stream.deallocate(); there.deallocate() }
        func mismatch() -> BaleError {
            BaleError(.integrity, "\(region.path): the member's bytes are not where its tar header puts them (offset \(region.offset), \(region.length) bytes); they differ from byte \(size) of the member")
        }
        while true {
            let n = try reader.read(into: stream)
            if n == 0 { break }
            guard size + Int64(n) <= region.length else { throw mismatch() }
            var got = 0
            while got < n {
                let m = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: there[got ..< n]))
                guard m > 0 else { throw mismatch() }
                got += m
            }
            guard memcmp(stream.baseAddress!, there.baseAddress!, n) == 0 else { throw mismatch() }
            hasher.update(UnsafeRawBufferPointer(rebasing: stream[0 ..< n]))
            size += Int64(n)
        }
        guard size == region.length else { throw mismatch() }
        let digest = hasher.finalize()
        if let expected, expected.digest != digest || expected.size != size {
            throw BaleError(.integrity, "\(region.path): member at offset \(region.offset) hashes to \(digest) (\(size) bytes), not \(expected.digest) (\(expected.size) bytes)")
        }
        lock.withLock { regions[digest] = region }
        return (digest, size)
    }

    public func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        try staging.putProduced(produce)
    }

    public func open(_ digest: Digest) throws -> any BlobReader {
        if let region = lock.withLock({ regions[digest] }) { return try RegionBlobReader(region) }
        return try staging.open(digest)
    }

    /// Only staged copies are files of their own; a blob kept by place has none.
    public func file(_ digest: Digest) -> String? { staging.file(digest) }

    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        if let region = lock.withLock({ regions[digest] }) { return size == nil || size == region.length }
        return staging.contains(digest, size: size)
    }

    static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }
}
