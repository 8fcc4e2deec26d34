import BaleCore
import CArchive
import Foundation

/// The decompressed byte stream of a possibly compressed input, detected from its magic bytes:
///
/// ```
/// input ─▶ 1f 8b (gzip)? ── yes ─▶ GunzipSource (ISA-L: each member's CRC-32 and ISIZE checked) ─▶ read(into:)
///                       └── no ──▶ libarchive "raw" [bzip2 | xz | lzma | zstd | none] ───────────▶ read(into:)
/// ```
///
/// Used where the *uncompressed bytes themselves* are the product (a rootfs tar imported verbatim as a
/// layer, whose DiffID is the SHA-256 of exactly these bytes), so nothing is re-serialised. gzip does not
/// go through libarchive because its gzip filter never checks the trailer: a wrong CRC-32 or ISIZE would
/// be accepted and corrupt bytes stored. bzip2, xz, lzma and zstd carry checks libarchive's filters
/// (liblzma, libbz2, libzstd) do verify. A gzip input is undone once, as docker's DecompressStream does
/// (libarchive would also have undone a compression nested inside it). Only in-process filters are
/// enabled, as in `TarReader` (CVE-2014-9357). Not thread-safe.
public final class DecompressingSource: ByteSource {
    /// The input's name in error messages.
    public let name: String
    /// The outermost compression detected (`.none` for plain input).
    public private(set) var compression: TarCompression = .none

    private var archive: OpaquePointer?
    private var client: ArchiveSourceClient?
    private var gunzip: GunzipSource?
    private var finished = false

    /// Reads the decompressed form of `source`; `name` is used in error messages. Throws
    /// `.invalidInput` when the compressed stream is unreadable from the start.
    public init(source: any ByteSource, name: String) throws {
        self.name = name
        var peeked = PeekedSource(source)
        let magic = try peeked.peek(2)
        if magic == [0x1f, 0x8b] {
            compression = .gzip
            gunzip = GunzipSource(source: peeked, name: name)
            return
        }
        let client = ArchiveSourceClient(BufferedChunks(peeked, bufferSize: 256 * 1024))
        self.client = client
        guard let archive = archive_read_new() else {
            throw BaleError(.internal, "\(name): libarchive could not allocate a reader")
        }
        self.archive = archive
        enableInProcessFilters(archive)
        _ = archive_read_support_format_raw(archive)
        _ = archive_read_support_format_empty(archive)
        let opened = archive_read_open2(archive, Unmanaged.passUnretained(client).toOpaque(), nil,
                                        { _, clientData, out in
                                            guard let clientData, let out else { return -1 }
                                            return Unmanaged<ArchiveSourceClient>.fromOpaque(clientData)
                                                .takeUnretainedValue().fill(out)
                                        }, nil, nil)
        guard opened == ARCHIVE_OK else { throw error(opened, "at start") }
        var entry: OpaquePointer?
        let status = archive_read_next_header(archive, &entry)
        if status == ARCHIVE_EOF {
            finished = true      // empty input: zero bytes
        } else if status != ARCHIVE_OK && status != ARCHIVE_WARN {
            throw error(status, "at start")
        }
        let count = archive_filter_count(archive)
        for index in stride(from: count - 1, through: 0, by: -1) {
            if let known = TarCompression(filterCode: archive_filter_code(archive, index)), known != .none {
                compression = known
                break
            }
        }
    }

    deinit {
        if let archive { archive_read_free(archive) }
    }

    /// Reads decompressed bytes; 0 at the end of the stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let gunzip { return try gunzip.read(into: buffer) }
        guard !finished, let archive, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = archive_read_data(archive, base, buffer.count)
        if n < 0 { throw error(Int32(n), "while decompressing") }
        if n == 0 { finished = true }
        return n
    }

    private func error(_ status: Int32, _ location: String) -> BaleError {
        if let cause = client?.error { return clientError(cause, name: name, location: location) }
        return BaleError(.invalidInput, "\(name): \(location): " + archiveMessage(archive, fallback: "unreadable input"))
    }
}

/// A source whose first bytes can be looked at before it is read from the start.
private struct PeekedSource: ByteSource {
    private var source: any ByteSource
    private var head: [UInt8] = []
    private var headOffset = 0
    private var sourceAtEnd = false

    init(_ source: any ByteSource) { self.source = source }

    /// The first `count` bytes (fewer when the input is shorter); they are still returned by `read`.
    mutating func peek(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        while head.count < count && !sourceAtEnd {
            let want = count - head.count
            let n = try chunk.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0 ..< want])) }
            if n == 0 { sourceAtEnd = true } else { head += chunk[0 ..< min(n, want)] }
        }
        return Array(head.prefix(count))
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if headOffset < head.count {
            let n = min(buffer.count, head.count - headOffset)
            head[headOffset ..< headOffset + n].withUnsafeBytes { buffer.copyMemory(from: $0) }
            headOffset += n
            return n
        }
        if sourceAtEnd { return 0 }
        return try source.read(into: buffer)
    }
}
