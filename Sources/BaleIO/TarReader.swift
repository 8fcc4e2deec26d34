import BaleCore
import CArchive
import Foundation

/// Reads a tar archive in one streaming pass, through libarchive.
///
/// ```
/// [whole-archive compression: none | gzip | bzip2 | xz | lzma | zstd, detected from magic bytes]
///   └─ tar stream: header, data, header, data, …, end-of-archive (two zero blocks)
///      headers in any tar dialect libarchive reads: v7, ustar, GNU (long names, sparse),
///      PAX (extended and global records, SCHILY.xattr), star
/// ```
///
/// Call `next()` for each member, then read its data with `read(into:)`, `readAll(limit:)` or
/// `readBlock(_:)` (sparse-aware), or skip it (data left unread is skipped by the next `next()`).
/// Only tar-family formats are enabled, and only compression filters that run in-process (libarchive's
/// `filter_all` would also fall back to external programs such as lrzip, which is what CVE-2014-9357
/// warns against).
///
/// libarchive 3.6 does not check the gzip trailer (CRC-32 and length; "XXX TODO" in its gzip filter),
/// so a gzip stream corrupted inside stored blocks can read without error: integrity comes from the
/// digests bale checks (diffIDs, blob digests), not from this reader.
///
/// Errors are `BaleError(.invalidInput, "<archive>: <where>: <libarchive message>")`, where `<where>` is
/// `member "x"`, `after member "x"` or `at start`. An error thrown by a custom `ByteSource` keeps its
/// code and becomes the `cause`. After an error every call throws the same error.
///
/// Not thread-safe: use one reader from one thread at a time.
public final class TarReader {
    /// The archive's name in error messages (a path, "<stdin>", or what the caller gave).
    public let name: String
    /// The compression filters libarchive detected, outermost (nearest the bytes) first, without
    /// "none": `["gzip"]` for a `.tar.gz`, `[]` for a plain tar.
    public private(set) var filterNames: [String] = []
    /// The outermost whole-archive compression (`.none` for a plain tar).
    public private(set) var compression: TarCompression = .none
    /// libarchive's name for the tar dialect of the last header read (e.g. "GNU tar format",
    /// "POSIX pax interchange format"); `nil` before the first `next()`.
    public private(set) var formatName: String?
    /// Warnings libarchive reported while reading headers (e.g. malformed PAX records it ignored), each
    /// prefixed with the member's name.
    public private(set) var warnings: [String] = []
    /// Where the current member's data starts in the input, counted from where reading began: for a
    /// plain (uncompressed) tar the member's bytes are `dataOffset ..< dataOffset + size` of the file, so
    /// they can be served by offset (`pread`, `sendfile`). It is libarchive's count of bytes consumed
    /// once the member's headers (and any PAX or GNU long-name headers before them) were read, which
    /// lies on a 512-byte block boundary. nil for a compressed archive (offsets there are in the
    /// decompressed stream, not the file), a sparse member (its data is not contiguous), or a member
    /// whose count is not block-aligned (then something is not as tar lays it out, and the caller must
    /// read the member through `read(into:)` instead). Callers that serve by offset still check the
    /// bytes there against what `read(into:)` gives, once.
    public private(set) var dataOffset: Int64?

    private var archive: OpaquePointer?
    private var ownedFileDescriptor: Int32 = -1
    private let client: ArchiveSourceClient
    /// Path of the current member, or of the last one once its data was consumed.
    private var member: RawPath?
    /// Whether the current member's data has been read to its end (or skipped).
    private var dataConsumed = true
    /// The declared size of the current member.
    private var memberSize: Int64 = 0
    private var finished = false
    private var failure: BaleError?

    /// Opens the regular file at `path` (`RegularFile`: a FIFO or device is refused; a stream comes in
    /// through `init(fileDescriptor:)`). Throws `.notFound`/`.io` if it cannot be opened, `.invalidInput`
    /// if it is no regular file or not a (possibly compressed) tar.
    public convenience init(path: String) throws {
        let fd = try RegularFile.open(path)
        do {
            try self.init(source: FileDescriptorSource(fileDescriptor: fd, name: path), name: path,
                          ownedFileDescriptor: fd, seekable: fd)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Reads from `fileDescriptor` (e.g. 0 for stdin) from its current position. The descriptor is not
    /// closed by the reader.
    public convenience init(fileDescriptor: Int32, name: String = "<stdin>") throws {
        try self.init(source: FileDescriptorSource(fileDescriptor: fileDescriptor, name: name), name: name,
                      ownedFileDescriptor: -1, seekable: fileDescriptor)
    }

    /// Reads from `source` (a pipe, a hashing reader, memory …); `name` is used in error messages.
    public convenience init(source: any ByteSource, name: String) throws {
        try self.init(source: source, name: name, ownedFileDescriptor: -1, seekable: nil)
    }

    /// Reads the chunks `chunks` lends, in place (a channel's blocks: no copy into a buffer of the
    /// reader's); `name` is used in error messages.
    public convenience init(chunks: any ChunkSource, name: String) throws {
        try self.init(chunks: chunks, name: name, ownedFileDescriptor: -1, seekable: nil)
    }

    private convenience init(source: any ByteSource, name: String, ownedFileDescriptor: Int32, seekable: Int32?) throws {
        try self.init(chunks: BufferedChunks(source, bufferSize: 128 * 1024), name: name,
                      ownedFileDescriptor: ownedFileDescriptor, seekable: seekable)
    }

    private init(chunks: any ChunkSource, name: String, ownedFileDescriptor: Int32, seekable: Int32?) throws {
        self.name = name
        self.client = ArchiveSourceClient(chunks, seekableFileDescriptor: seekable)
        guard let archive = archive_read_new() else {
            throw BaleError(.internal, "\(name): libarchive could not allocate a reader")
        }
        self.archive = archive
        // Set only after every throwing step below, so a failed init does not close the caller's fd twice.
        enableInProcessFilters(archive)
        // One handler reads v7, ustar, PAX, GNU and star (`format_gnutar` is an alias of it).
        _ = archive_read_support_format_tar(archive)
        let opened = withArchiveLocale {
            archive_read_open2(archive, Unmanaged.passUnretained(client).toOpaque(), nil,
                               { _, clientData, out in
                                   guard let clientData, let out else { return -1 }
                                   return Unmanaged<ArchiveSourceClient>.fromOpaque(clientData)
                                       .takeUnretainedValue().fill(out)
                               },
                               { _, clientData, request in
                                   guard let clientData else { return 0 }
                                   return Unmanaged<ArchiveSourceClient>.fromOpaque(clientData)
                                       .takeUnretainedValue().skip(request)
                               }, nil)
        }
        guard opened == ARCHIVE_OK else {
            let error = makeError(where: "at start")
            archive_read_free(archive)
            self.archive = nil
            throw error
        }
        self.ownedFileDescriptor = ownedFileDescriptor
        readFilters()
    }

    deinit {
        if let archive { archive_read_free(archive) }
        if ownedFileDescriptor >= 0 { close(ownedFileDescriptor) }
    }

    /// Advances to the next member, skipping whatever is left of the current one's data. Returns `nil`
    /// at the end of the archive.
    public func next() throws -> TarEntry? {
        if let failure { throw failure }
        guard !finished, let archive else { return nil }
        // Skip explicitly, so a failure inside the data is reported against this member and a failure
        // in the next header "after" it.
        try skipData()
        var entryPointer: OpaquePointer?
        let (status, entry): (Int32, TarEntry?) = withArchiveLocale {
            let status = archive_read_next_header(archive, &entryPointer)
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entryPointer else { return (status, nil) }
            return (status, TarReader.makeEntry(entryPointer))
        }
        if status == ARCHIVE_EOF {
            finished = true
            dataConsumed = true
            return nil
        }
        guard let entry else { throw fail(where: position) }
        if status == ARCHIVE_WARN {
            warnings.append("member \(entry.path.quoted): " + archiveMessage(archive, fallback: "warning"))
        }
        formatName = archiveString(archive_format_name(archive))
        if filterNames.isEmpty { readFilters() }
        member = entry.path
        memberSize = entry.size
        dataConsumed = false
        let consumed = archive_filter_bytes(archive, 0)
        dataOffset = filterNames.isEmpty && !entry.isSparse && consumed >= 512 && consumed % 512 == 0 ? consumed : nil
        return entry
    }

    /// Reads up to `buffer.count` bytes of the current member's data; `0` at its end. Holes of a sparse
    /// member read as zeros.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let failure { throw failure }
        guard let archive, !dataConsumed, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = archive_read_data(archive, base, buffer.count)
        if n < 0 { throw fail(where: position) }
        if n == 0 { dataConsumed = true }
        return n
    }

    /// The current member's whole data. Throws `.invalidInput` naming the member when it is larger than
    /// `limit` bytes (checked against the header before anything is read, and while reading).
    public func readAll(limit: Int) throws -> Data {
        if let failure { throw failure }
        guard !dataConsumed else { return Data() }
        let tooLarge = BaleError(.invalidInput,
                                 "\(name): member \((member ?? "").quoted): data larger than the limit of \(limit) bytes")
        guard memberSize <= Int64(limit) else { throw tooLarge }
        var data = Data(capacity: Int(memberSize))
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return data }
            // The header can understate what libarchive delivers only through a bug, but the cap is the point.
            guard data.count + n <= limit else { throw tooLarge }
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0 ..< n]))
        }
    }

    /// Calls `body` with the next stored block of the current member's data and its offset in the
    /// file, and returns `body`'s result; returns `nil` at the end of the data. For a sparse member the
    /// offsets jump over holes, which are never materialised; a hole at the end is not reported, so
    /// extraction sets the file length to `TarEntry.size`. `bytes` is valid only inside `body`.
    /// Use either this or `read(into:)` for one member, not both.
    public func readBlock<R>(_ body: (_ offset: Int64, _ bytes: UnsafeRawBufferPointer) throws -> R) throws -> R? {
        if let failure { throw failure }
        guard let archive, !dataConsumed else { return nil }
        var pointer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        let status = archive_read_data_block(archive, &pointer, &size, &offset)
        if status == ARCHIVE_EOF {
            dataConsumed = true
            return nil
        }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN else { throw fail(where: position) }
        return try body(Int64(offset), UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : size))
    }

    /// Skips the rest of the current member's data (a seek for plain tar on a file, a decompressing read
    /// otherwise).
    public func skipData() throws {
        if let failure { throw failure }
        guard let archive, !dataConsumed else { return }
        guard archive_read_data_skip(archive) == ARCHIVE_OK else { throw fail(where: position) }
        dataConsumed = true
    }

    // MARK: - Internals

    /// Where the reader is, for error messages.
    private var position: String {
        guard let member else { return "at start" }
        return dataConsumed ? "after member \(member.quoted)" : "member \(member.quoted)"
    }

    private func fail(where location: String) -> BaleError {
        let error = makeError(where: location)
        failure = error
        return error
    }

    /// The error for the current libarchive failure; an error from the byte source wins over
    /// libarchive's generic message and keeps its code.
    private func makeError(where location: String) -> BaleError {
        if let cause = client.error { return clientError(cause, name: name, location: location) }
        return BaleError(.invalidInput,
                         "\(name): \(location): " + archiveMessage(archive, fallback: "unreadable tar archive"))
    }

    private func readFilters() {
        guard let archive else { return }
        let count = archive_filter_count(archive)
        // Index 0 is the filter the tar parser reads from; the last is the raw byte reader ("none").
        var names: [String] = []
        var outermost: TarCompression = .none
        for index in stride(from: count - 1, through: 0, by: -1) {
            let code = archive_filter_code(archive, index)
            guard code != ARCHIVE_FILTER_NONE else { continue }
            names.append(archiveString(archive_filter_name(archive, index)) ?? "filter \(code)")
            if outermost == .none, let known = TarCompression(filterCode: code) { outermost = known }
        }
        filterNames = names
        compression = outermost
    }

    /// A value copy of libarchive's entry (which is reused for the next header).
    private static func makeEntry(_ entry: OpaquePointer) -> TarEntry {
        let path = archive_entry_pathname(entry).map(RawPath.init(cString:)) ?? ""
        let hardlink = archive_entry_hardlink(entry).map(RawPath.init(cString:))
        let kind: TarEntry.Kind
        var linkTarget: RawPath?
        if let hardlink {
            kind = .hardlink
            linkTarget = hardlink
        } else {
            switch UInt32(archive_entry_filetype(entry)) & ArchiveFileType.mask {
            case ArchiveFileType.regular: kind = .file
            case ArchiveFileType.directory: kind = .directory
            case ArchiveFileType.symlink:
                kind = .symlink
                linkTarget = archive_entry_symlink(entry).map(RawPath.init(cString:)) ?? ""
            case ArchiveFileType.characterDevice: kind = .characterDevice
            case ArchiveFileType.blockDevice: kind = .blockDevice
            case ArchiveFileType.fifo: kind = .fifo
            default: kind = .other
            }
        }
        var xattrs: [String: Data] = [:]
        if archive_entry_xattr_reset(entry) > 0 {
            var xname: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(entry, &xname, &value, &size) == ARCHIVE_OK {
                guard let key = archiveString(xname) else { continue }
                xattrs[key] = value.map { Data(bytes: $0, count: size) } ?? Data()
            }
        }
        var sparseMap: [TarEntry.SparseExtent]?
        if archive_entry_sparse_reset(entry) > 0 {
            var extents: [TarEntry.SparseExtent] = []
            var offset: la_int64_t = 0
            var length: la_int64_t = 0
            while archive_entry_sparse_next(entry, &offset, &length) == ARCHIVE_OK {
                extents.append(TarEntry.SparseExtent(offset: Int64(offset), length: Int64(length)))
            }
            sparseMap = extents
        }
        let isDevice = kind == .characterDevice || kind == .blockDevice
        return TarEntry(
            path: path, kind: kind,
            size: archive_entry_size_is_set(entry) != 0 ? Int64(archive_entry_size(entry)) : 0,
            mode: UInt32(archive_entry_perm(entry)) & 0o7777,
            uid: Int64(archive_entry_uid(entry)), gid: Int64(archive_entry_gid(entry)),
            uname: archiveString(archive_entry_uname(entry)) ?? "",
            gname: archiveString(archive_entry_gname(entry)) ?? "",
            mtime: TarTime(seconds: Int64(archive_entry_mtime(entry)),
                           nanoseconds: Int32(truncatingIfNeeded: archive_entry_mtime_nsec(entry))),
            linkTarget: linkTarget,
            devMajor: isDevice ? UInt32(truncatingIfNeeded: archive_entry_rdevmajor(entry)) : 0,
            devMinor: isDevice ? UInt32(truncatingIfNeeded: archive_entry_rdevminor(entry)) : 0,
            xattrs: xattrs, sparseMap: sparseMap)
    }
}
