import BaleCore
import CLinux
import Foundation

/// A file that appears at its final path complete or not at all: bytes go to a temp file created in a
/// given directory, and `commit(to:)` makes them durable and renames them into place (DESIGN §5).
///
/// ```
/// init        open(dir/.tmp-<random>, O_CREAT|O_EXCL|O_WRONLY, 0644)
/// write…      full writes, EINTR retried; writeback started every 8 MiB (`Writeback`)
/// commit(to:) fsync(file) → close → rename(temp, final) → fsync(directory of final)
/// discard()   close → unlink(temp)          (also done by deinit if neither was called)
/// ```
///
/// The final path must be on the same file system as the temp directory (rename(2) does not cross
/// file systems). An existing final file is replaced atomically.
public final class AtomicFile: ByteSink {
    /// Path of the temp file while it is being written.
    public let temporaryPath: String
    /// The open descriptor of the temp file (-1 once committed or discarded); for callers that need
    /// `fstat` or `pwrite`.
    public private(set) var fileDescriptor: Int32
    /// Bytes written through `write` so far.
    public private(set) var byteCount: Int64 = 0
    /// Set once the temp file was renamed or removed, so `discard` never unlinks a name it no longer owns.
    private var settled = false
    /// Set by `seal`: the data is durable and the descriptor closed; only `commit(to:)` or `discard` remain.
    private var sealed = false
    private var writeback = Writeback()

    /// Creates a new temp file in `directory`, named `prefix` + random hex, mode 0644 (before umask).
    /// A failure to create it is reported under `nameInErrors` when given (the path the user asked
    /// for, rather than a temp name they never saw), else under the temp path.
    public init(directory: String, prefix: String = ".tmp-", nameInErrors: String? = nil) throws {
        var attempt = 0
        while true {
            let path = directory + "/" + prefix + String(UInt64.random(in: .min ... .max), radix: 16)
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
            if fd >= 0 {
                temporaryPath = path
                fileDescriptor = fd
                return
            }
            attempt += 1
            // EEXIST: an unlikely name collision; try another name a few times.
            guard errno == EEXIST, attempt < 16 else { throw BaleError.posix("create", path: nameInErrors ?? path) }
        }
    }

    deinit { discard() }

    /// Appends `bytes` to the temp file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard fileDescriptor >= 0 else {
            throw BaleError(.internal, "\(temporaryPath): write after commit or discard")
        }
        try writeAll(fileDescriptor, bytes, name: temporaryPath)
        byteCount += Int64(bytes.count)
        writeback.advance(fileDescriptor, to: byteCount)
    }

    /// Makes the data durable and closes the descriptor, leaving the temp file for a later `commit(to:)`
    /// (or `discard`): a writer of many files (a split archive's parts) renames them all only at the end,
    /// without holding a descriptor open for each. On error the temp file is removed.
    public func seal() throws {
        guard fileDescriptor >= 0, !sealed else {
            throw BaleError(.internal, "\(temporaryPath): seal after seal, commit or discard")
        }
        do {
            guard fsync(fileDescriptor) == 0 else { throw BaleError.posix("fsync", path: temporaryPath) }
            let fd = fileDescriptor
            fileDescriptor = -1
            guard close(fd) == 0 else { throw BaleError.posix("close", path: temporaryPath) }
            sealed = true
        } catch {
            discard()
            throw error
        }
    }

    /// Makes the data durable (unless sealed already) and renames the temp file to `finalPath`, then
    /// syncs the directory that holds `finalPath` so the rename survives a crash. On error the temp file
    /// is removed.
    public func commit(to finalPath: String) throws {
        guard !settled else {
            throw BaleError(.internal, "\(temporaryPath): commit after commit or discard")
        }
        if !sealed { try seal() }
        do {
            guard rename(temporaryPath, finalPath) == 0 else {
                throw BaleError.posix("rename to \(finalPath)", path: temporaryPath)
            }
            settled = true
        } catch {
            discard()
            throw error
        }
        try AtomicFile.syncDirectory(of: finalPath)
    }

    /// Closes and removes the temp file. Safe to call more than once, and after a failed commit.
    public func discard() {
        guard !settled else { return }
        settled = true
        if fileDescriptor >= 0 {
            close(fileDescriptor)
            fileDescriptor = -1
        }
        unlink(temporaryPath)
    }

    /// fsyncs the directory containing `path`, so a rename or create in it is durable.
    public static func syncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let dirPath = directory.isEmpty ? "." : directory
        let fd = open(dirPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BaleError.posix("open directory", path: dirPath) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BaleError.posix("fsync directory", path: dirPath) }
    }
}

/// Hands a growing file's new bytes to the kernel for writeback every few MiB (`sync_file_range`
/// with `SYNC_FILE_RANGE_WRITE`, which starts the I/O and does not wait for it), so the disk writes
/// while the pipeline still computes, and the fsync before a rename waits only for the last stretch.
/// Without it, the 450 MB layer of `make bench`'s import sat in the page cache until that fsync, which
/// then took 1.2 s of the command's 7.
///
/// Advisory only: an I/O error it meets is reported again by the fsync that follows, and on file systems
/// without writeback (tmpfs) it does nothing.
public struct Writeback: Sendable {
    /// Bytes between two calls to `sync_file_range`.
    static let stretch: Int64 = 8 << 20
    private var started: Int64 = 0

    /// An empty range.
    public init() {}

    /// Notes that `fd` now holds `size` bytes, and starts writeback of what is new when enough is.
    public mutating func advance(_ fd: Int32, to size: Int64) {
        guard size - started >= Self.stretch else { return }
        _ = sync_file_range(fd, __off64_t(started), __off64_t(size - started), UInt32(BALE_SYNC_FILE_RANGE_WRITE))
        started = size
    }
}
