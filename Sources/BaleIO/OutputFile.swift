import BaleCore
import Foundation

/// The file behind an `-o PATH` option, written the way docker writes `save -o` / `export -o`, decided in
/// one place from what PATH is when it is opened:
///
/// ```
/// PATH is …                         written as …
/// missing, or a regular file        AtomicFile next to it, renamed over PATH at commit   (.atomic)
/// a symlink (or a chain of them)    resolved to the final target, which is then treated
///                                   as below; the link itself stays in place
/// a char/block device or FIFO      opened O_WRONLY and written into, no temp, no rename  (.direct)
///                                   (a socket cannot be opened: open fails with ENXIO)
/// a directory                       refused
/// ```
///
/// Renaming a temp file over `/dev/null`, a FIFO or a symlink would replace that object with a regular
/// file (and a reader of the FIFO would wait forever), so only regular files and missing paths take the
/// atomic route. In `.direct` mode bytes reach the object as they are written; `discard` cannot take them
/// back, it only closes the descriptor.
public final class OutputFile: ByteSink {
    /// How the bytes reach the path.
    public enum Mode: Sendable, Equatable {
        /// Through a temp file in the target's directory, renamed over the target by `commit`.
        case atomic
        /// Straight into the existing non-regular object (device or FIFO).
        case direct
    }

    /// The path as given (used in error messages).
    public let path: String
    /// The path actually written: `path` with every symlink of its last component resolved.
    public let target: String
    /// How the bytes reach `target`.
    public let mode: Mode
    /// Bytes written through `write` so far.
    public private(set) var byteCount: Int64 = 0

    private let atomic: AtomicFile?
    private var directDescriptor: Int32
    private var settled = false

    /// Opens `path` for writing as the table above says. Throws `.io` naming `path` when it cannot be
    /// created or opened (e.g. its directory is missing), `.usage` when it is a directory.
    public init(path: String) throws {
        self.path = path
        let (target, status) = try Self.resolve(path)
        self.target = target
        let shown = target == path ? path : "\(path) (-> \(target))"
        let type = status.map { $0.st_mode & S_IFMT }
        switch type {
        case nil, S_IFREG:
            let directory = (target as NSString).deletingLastPathComponent
            let base = (target as NSString).lastPathComponent
            mode = .atomic
            atomic = try AtomicFile(directory: directory.isEmpty ? "." : directory, prefix: ".\(base).tmp-",
                                    nameInErrors: shown)
            directDescriptor = -1
        case S_IFDIR:
            throw BaleError(.usage, "\(shown): is a directory")
        default:
            // O_NOFOLLOW: the object was checked above; a symlink swapped in since is not followed.
            let fd = open(target, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw BaleError.posix("open", path: shown) }
            var opened = stat()
            let kind = fstat(fd, &opened) == 0 ? opened.st_mode & S_IFMT : S_IFREG
            // A regular file put there since the lstat would be written in place without truncation.
            guard kind != S_IFREG, kind != S_IFDIR else {
                close(fd)
                throw BaleError(.io, "\(shown): changed while it was being opened")
            }
            mode = .direct
            atomic = nil
            directDescriptor = fd
        }
    }

    deinit { discard() }

    /// The open descriptor written to (-1 once committed or discarded), for writers that take one.
    public var fileDescriptor: Int32 {
        atomic?.fileDescriptor ?? directDescriptor
    }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let atomic {
            try atomic.write(bytes)
        } else {
            guard directDescriptor >= 0 else { throw BaleError(.internal, "\(path): write after commit or discard") }
            try writeAll(directDescriptor, bytes, name: path)
        }
        byteCount += Int64(bytes.count)
    }

    /// Finishes the output: an atomic file is made durable and renamed over `target`; a direct
    /// descriptor is closed.
    public func commit() throws {
        guard !settled else { throw BaleError(.internal, "\(path): commit after commit or discard") }
        settled = true
        if let atomic {
            try atomic.commit(to: target)
        } else {
            let fd = directDescriptor
            directDescriptor = -1
            guard close(fd) == 0 else { throw BaleError.posix("close", path: path) }
        }
    }

    /// Gives up: an atomic temp file is removed (the target is untouched); a direct descriptor is closed
    /// (what was written stays written). Safe to call more than once and after `commit`.
    public func discard() {
        guard !settled else { return }
        settled = true
        atomic?.discard()
        if directDescriptor >= 0 {
            close(directDescriptor)
            directDescriptor = -1
        }
    }

    /// Follows `path` through symlinks to the object that would be written; returns that path and its
    /// lstat (nil when nothing is there, including a dangling link's target).
    static func resolve(_ path: String) throws -> (String, stat?) {
        var current = path
        // The kernel's own limit on symlinks in a lookup (MAXSYMLINKS is 40 on Linux).
        for _ in 0 ..< 40 {
            var status = stat()
            guard lstat(current, &status) == 0 else {
                guard errno == ENOENT else { throw BaleError.posix("stat", path: path) }
                return (current, nil)
            }
            guard status.st_mode & S_IFMT == S_IFLNK else { return (current, status) }
            let link = try readLink(current, shownAs: path)
            if link.hasPrefix("/") {
                current = link
            } else {
                let directory = (current as NSString).deletingLastPathComponent
                current = directory.isEmpty ? link : directory + "/" + link
            }
        }
        throw BaleError(.io, "\(path): too many levels of symbolic links")
    }

    private static func readLink(_ path: String, shownAs shown: String) throws -> String {
        var size = 256
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let n = readlink(path, &buffer, size)
            guard n >= 0 else { throw BaleError.posix("readlink", path: shown) }
            if n < size {
                return String(decoding: buffer[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            size *= 2   // possibly truncated: try again with room to spare
        }
    }
}
