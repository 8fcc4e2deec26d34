import BaleCore
import BaleIO
import Foundation

/// Where a blob's bytes lie, as they are, in a file: a whole blob file (`offset` 0), or the data of a
/// member of an uncompressed tar. What `bale serve` reads by offset (`pread`, `sendfile`), so an archive
/// is served without being unpacked.
public struct FileRegion: Sendable, Hashable {
    public var path: String
    public var offset: Int64
    public var length: Int64
    public init(path: String, offset: Int64, length: Int64) {
        self.path = path
        self.offset = offset
        self.length = length
    }
}

/// A blob reader that also says where in a file the bytes it gives lie (a streaming source's reader
/// over a member of an uncompressed tar), so a sink can keep the place instead of a copy. The bytes at
/// the region are *claimed* to equal the stream's: a sink that keeps only the place must check that
/// while it reads the stream (`RegionCheck`).
public protocol PlacedBlobReader: BlobReader {
    var region: FileRegion { get }
}

/// Gives `reader`'s bytes and says they lie at `region`.
public final class PlacedReader: PlacedBlobReader {
    private let reader: any BlobReader
    public let region: FileRegion
    public init(_ reader: any BlobReader, region: FileRegion) {
        self.reader = reader
        self.region = region
    }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try reader.read(into: buffer) }
    public func close() { reader.close() }
}

/// Reads a `FileRegion` with `pread` (no shared file position, so one descriptor may serve several
/// readers at once).
public final class RegionBlobReader: BlobReader {
    private var fd: Int32
    private let region: FileRegion
    private var position: Int64 = 0

    public init(_ region: FileRegion) throws {
        self.region = region
        fd = try RegularFile.open(region.path)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = Int(min(Int64(buffer.count), region.length - position))
        guard want > 0 else { return 0 }
        while true {
            let n = pread(fd, buffer.baseAddress, want, off_t(region.offset + position))
            if n > 0 {
                position += Int64(n)
                return n
            }
            if n == 0 {
                throw BaleError(.integrity, "\(region.path): ends at \(region.offset + position), inside a blob that runs to \(region.offset + region.length)")
            }
            if errno != EINTR { throw BaleError.posix("read failed", path: region.path) }
        }
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
