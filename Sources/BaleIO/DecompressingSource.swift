import BaleCore
import CArchive
import Foundation

/// The decompressed byte stream of a possibly compressed input, through libarchive's "raw" format:
///
/// ```
/// input bytes ─▶ [gzip | bzip2 | xz | lzma | zstd | none, detected from magic bytes] ─▶ read(into:)
/// ```
///
/// Used where the *uncompressed bytes themselves* are the product (a rootfs tar imported verbatim as a
/// layer, whose DiffID is the SHA-256 of exactly these bytes), so nothing is re-serialised. Only
/// in-process filters are enabled, as in `TarReader` (CVE-2014-9357). Not thread-safe.
public final class DecompressingSource: ByteSource {
    /// The input's name in error messages.
    public let name: String
    /// The outermost compression detected (`.none` for plain input).
    public private(set) var compression: TarCompression = .none

    private var archive: OpaquePointer?
    private let client: RawSourceClient
    private var finished = false

    /// Reads the decompressed form of `source`; `name` is used in error messages. Throws
    /// `.invalidInput` when the compressed stream is unreadable from the start.
    public init(source: any ByteSource, name: String) throws {
        self.name = name
        self.client = RawSourceClient(source)
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
                                            return Unmanaged<RawSourceClient>.fromOpaque(clientData)
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
        guard !finished, let archive, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = archive_read_data(archive, base, buffer.count)
        if n < 0 { throw error(Int32(n), "while decompressing") }
        if n == 0 { finished = true }
        return n
    }

    private func error(_ status: Int32, _ location: String) -> BaleError {
        if let cause = client.error { return clientError(cause, name: name, location: location) }
        return BaleError(.invalidInput, "\(name): \(location): " + archiveMessage(archive, fallback: "unreadable input"))
    }
}

/// The libarchive client of a `DecompressingSource`: the source, the buffer libarchive reads from (valid
/// until the next callback) and the first error the source threw.
private final class RawSourceClient {
    var source: any ByteSource
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    var error: (any Error)?

    init(_ source: any ByteSource) { self.source = source }

    deinit { buffer.deallocate() }

    func fill(_ out: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        do {
            let n = try source.read(into: buffer)
            out.pointee = UnsafeRawPointer(buffer.baseAddress)
            return n
        } catch {
            self.error = error
            return -1
        }
    }
}
