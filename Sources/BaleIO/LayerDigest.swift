import BaleCore
import CArchive
import Foundation

/// The DiffID of a layer blob: SHA-256 of its uncompressed bytes, whatever compression it has
/// (detected from the bytes, never from the media type label).
public enum LayerDigest {
    /// Streams the file through libarchive's decompression filters (raw format) and hashes the output.
    public static func diffID(ofFile path: String) throws -> BaleCore.Digest {
        guard let a = archive_read_new() else { throw BaleError(.internal, "archive_read_new failed") }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_raw(a)
        archive_read_support_format_empty(a)
        guard archive_read_open_filename(a, path, 1 << 20) == ARCHIVE_OK else {
            throw BaleError(.invalidInput, "\(path): \(String(cString: archive_error_string(a)))")
        }
        var hasher = SHA256Hasher()
        var entry: OpaquePointer?
        let status = archive_read_next_header(a, &entry)
        if status == ARCHIVE_EOF { return hasher.finalize() }
        guard status == ARCHIVE_OK else {
            throw BaleError(.invalidInput, "\(path): \(String(cString: archive_error_string(a)))")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = archive_read_data(a, buffer.baseAddress, buffer.count)
            if n < 0 { throw BaleError(.invalidInput, "\(path): \(String(cString: archive_error_string(a)))") }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.finalize()
    }
}
