import BaleCore
import CArchive
import Foundation

// Glue shared by TarReader and TarWriter: the locale libarchive converts names in, and the conversion
// of libarchive's C strings.

/// libarchive converts member names between the archive's charset and the *current locale*. A Swift
/// process runs in the "C" locale, where libarchive cannot convert non-ASCII names: PAX `path` records
/// come back with a warning and writing a UTF-8 name through `archive_entry_set_pathname_utf8` crashes
/// libarchive 3.6. Every libarchive call that touches names therefore runs with a thread-local LC_CTYPE of C.UTF-8
/// locale (`uselocale` affects only the calling thread, so the process locale is left alone).
///
/// Names are bytes on the Swift side (`RawPath`), and bytes that are not UTF-8 pass through unchanged
/// both ways (checked by TarReaderTests and TarWriterTests): ustar and GNU names are raw bytes anyway; a
/// PAX `path`/`linkpath` record written by Go's archive/tar (docker) with such bytes reads back raw,
/// with a conversion warning; and the writer gives a name that is not UTF-8 a PAX record marked
/// `hdrcharset=BINARY` (POSIX's way to say "raw bytes"), which bsdtar, Go, Python and GNU tar read back
/// byte for byte (GNU tar 1.34 prints "Ignoring unknown extended header keyword 'hdrcharset'" but keeps
/// the name). One translation remains that bale cannot turn off: libarchive 3.6 normalises a UTF-8 PAX
/// name to NFC when it reads it (ustar and GNU names are not touched).
/// `nonisolated(unsafe)`: written once by the lazy global initialiser, then only read.
nonisolated(unsafe) private let utf8Locale: locale_t? = newlocale(1 << LC_CTYPE, "C.UTF-8", nil)

/// Runs `body` with the calling thread's locale set to C.UTF-8 (when the system has it).
func withArchiveLocale<R>(_ body: () throws -> R) rethrows -> R {
    guard let locale = utf8Locale, let previous = uselocale(locale) else { return try body() }
    defer { uselocale(previous) }
    return try body()
}

/// A Swift string from a C string that may hold non-UTF-8 bytes (repaired with U+FFFD).
func archiveString(_ pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
}

/// libarchive's last error message for `archive`, or `fallback`.
/// Enables the whole-archive decompression filters bale allows: gzip, bzip2, xz, lzma and zstd, all
/// in-process (Debian's libarchive links zlib, bzip2, liblzma and libzstd). Not `filter_all`, which also
/// registers filters that run external programs (CVE-2014-9357: decompress in-process only).
func enableInProcessFilters(_ archive: OpaquePointer) {
    for enable in [archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
                   archive_read_support_filter_xz, archive_read_support_filter_lzma,
                   archive_read_support_filter_zstd] {
        _ = enable(archive)
    }
}

/// The error for a libarchive failure caused by the caller's byte source or sink: its message, and its
/// code when it is a BaleError, prefixed with the archive name and the place.
func clientError(_ cause: any Error, name: String, location: String) -> BaleError {
    let bale = cause as? BaleError
    let message = bale?.message ?? String(describing: cause)
    return BaleError(bale?.code ?? .io, "\(name): \(location): \(message)", cause: cause)
}

func archiveMessage(_ archive: OpaquePointer?, fallback: String) -> String {
    if let archive, let text = archiveString(archive_error_string(archive)), !text.isEmpty {
        return text
    }
    return fallback
}

/// File-type bits of `archive_entry_filetype` (AE_IF* in archive_entry.h, whose cast macros Swift does
/// not import).
enum ArchiveFileType {
    static let mask: UInt32 = 0o170000
    static let regular: UInt32 = 0o100000
    static let symlink: UInt32 = 0o120000
    static let socket: UInt32 = 0o140000
    static let characterDevice: UInt32 = 0o020000
    static let blockDevice: UInt32 = 0o060000
    static let directory: UInt32 = 0o040000
    static let fifo: UInt32 = 0o010000
}

/// Whole-archive compression of a tar stream.
public enum TarCompression: String, Hashable, Sendable, CaseIterable {
    /// Plain tar.
    case none
    /// gzip (RFC 1952).
    case gzip
    /// bzip2.
    case bzip2
    /// xz.
    case xz
    /// Legacy `.lzma` (LZMA-alone).
    case lzma
    /// Zstandard.
    case zstd

    /// The libarchive filter code.
    var filterCode: Int32 {
        switch self {
        case .none: ARCHIVE_FILTER_NONE
        case .gzip: ARCHIVE_FILTER_GZIP
        case .bzip2: ARCHIVE_FILTER_BZIP2
        case .xz: ARCHIVE_FILTER_XZ
        case .lzma: ARCHIVE_FILTER_LZMA
        case .zstd: ARCHIVE_FILTER_ZSTD
        }
    }

    /// The compression with libarchive filter code `code`, if it is one of these.
    init?(filterCode code: Int32) {
        guard let found = TarCompression.allCases.first(where: { $0.filterCode == code }) else { return nil }
        self = found
    }
}

/// The libarchive client of a `TarReader` or `DecompressingSource`: owns the source, whose chunk
/// libarchive reads from (valid until the next callback, as libarchive requires), and the first error
/// the source threw.
final class ArchiveSourceClient {
    var chunks: any ChunkSource
    var error: (any Error)?
    /// The descriptor behind `chunks` when it may be a regular file, so skips can seek.
    private let seekableFileDescriptor: Int32?

    init(_ chunks: any ChunkSource, seekableFileDescriptor: Int32? = nil) {
        self.chunks = chunks
        self.seekableFileDescriptor = seekableFileDescriptor
    }

    /// The read callback: lends the next chunk, returns its byte count, 0 at end, -1 on error.
    func fill(_ out: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        do {
            let chunk = try chunks.nextChunk()
            out.pointee = chunk.baseAddress
            return chunk.count
        } catch {
            self.error = error
            return -1
        }
    }

    /// The skip callback: seeks over up to `request` bytes of a regular file, never past its end (so a
    /// truncated archive is still reported as truncated), and returns how far it went. 0 makes
    /// libarchive read and discard instead (pipes, custom sources).
    func skip(_ request: Int64) -> Int64 {
        guard let fd = seekableFileDescriptor, request > 0 else { return 0 }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return 0 }
        let position = lseek(fd, 0, SEEK_CUR)
        guard position >= 0 else { return 0 }
        let step = min(request, max(0, Int64(info.st_size) - Int64(position)))
        guard step > 0, lseek(fd, off_t(step), SEEK_CUR) >= 0 else { return 0 }
        return step
    }
}
