import BaleCore
import Foundation

/// Opening a file that bale expects to be a plain file: a store blob, an OCI layout's `index.json`,
/// `oci-layout` or blob, a layer being flattened, an earlier archive named by `save --since`.
///
/// The attack it stops: such a path can be a FIFO, a device or a socket. `open(2)` of a FIFO blocks
/// until a writer comes, and `read(2)` of one (or of `/dev/zero`, `/dev/tty`) may never end, so a
/// crafted layout (`mkfifo blobs/sha256/<hex>`) would hang bale forever. So the file is opened with
/// `O_NONBLOCK` (the open never waits), checked with `fstat` on the open descriptor (no race with a
/// rename between a check and the open), refused unless it is a regular file, and only then switched
/// back to blocking reads. Symlinks are followed: what is checked is what was opened.
///
/// Streams are the other way in, and only where the user names one: stdin, `load -i FIFO`,
/// `import FILE` (a pipe such as `<(zcat …)` included) open their input directly, and may wait.
public enum RegularFile {
    /// Opens `path` read-only and returns the descriptor (the caller closes it). Throws `notFound` when
    /// nothing is there, `invalidInput` for anything but a regular file, `io` for other failures.
    public static func open(_ path: String) throws -> Int32 {
        let fd = Foundation.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            var error = BaleError.posix("cannot open", path: path, errno: code)
            if code == ENOENT { error.code = .notFound }
            throw error
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let error = BaleError.posix("cannot stat", path: path)
            close(fd)
            throw error
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw BaleError(.invalidInput, "\(path): not a regular file (\(kind(st.st_mode))); refusing to read it")
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            let error = BaleError.posix("cannot set blocking reads", path: path)
            close(fd)
            throw error
        }
        return fd
    }

    /// Reads at most `limit` bytes of the regular file at `path` (a caller that caps a document passes
    /// its cap plus one, to tell "at the cap" from "over it").
    public static func read(_ path: String, limit: Int) throws -> Data {
        let fd = try open(path)
        defer { close(fd) }
        var data = Data()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while data.count < limit {
            let n = Foundation.read(fd, buffer.baseAddress, min(buffer.count, limit - data.count))
            if n < 0 {
                if errno == EINTR { continue }
                throw BaleError.posix("read failed", path: path)
            }
            if n == 0 { break }
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return data
    }

    /// What a file type is called in messages.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        default: return "not a plain file"
        }
    }
}
