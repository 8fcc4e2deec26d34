import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a flattened tree into a directory, never outside it (DESIGN §7, FORMATS §5):
///
/// ```
/// 1. directories, parents first, created 0700 (so a non-root run can fill them)
/// 2. the data pass: files (sparse-aware: holes stay holes), symlinks, hard links, FIFOs, devices (root)
/// 3. directories deepest first: owner (root only), mode, mtime
/// ```
///
/// Every path is reached from the target's descriptor, one component at a time, with
/// `openat(O_DIRECTORY | O_NOFOLLOW)`, and every object is created with `*at` calls that never follow a
/// final symlink (`O_CREAT | O_EXCL | O_NOFOLLOW`, `symlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`), so
/// a symlink — from the image or planted concurrently — is never written through. The tree itself never
/// has a symlink or file as a parent (the flattener refuses such members) and hard links only name
/// paths inside it. The target must be empty or absent.
final class Extractor {
    let target: String
    private let rootFD: Int32
    private let asRoot = geteuid() == 0
    /// The last directory opened, reused while consecutive members share it.
    /// Open descriptors of directories already reached, by relative path: each was opened with
    /// O_NOFOLLOW from its cached parent, and extraction never replaces a directory it created, so a
    /// cached descriptor stays the directory it was. Bounded; cleared when full.
    private var directories: [String: Int32] = [:]
    private static let maxCachedDirectories = 1024
    var warnings: [String] = []

    init(target: String) throws {
        self.target = target
        // The target and its parents are the user's choice, so they are created as plain paths.
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        } catch {
            throw BaleError(.io, "\(target): cannot create directory", cause: error)
        }
        let fd = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw BaleError.posix("cannot open directory", path: target) }
        rootFD = fd
        guard let dir = fdopendir(dup(fd)) else { throw BaleError.posix("cannot read directory", path: target) }
        defer { closedir(dir) }
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." {
                // Fully initialised: deinit closes rootFD.
                throw BaleError(.conflict, "\(target): the target directory is not empty")
            }
        }
    }

    deinit {
        for fd in directories.values { close(fd) }
        close(rootFD)
    }

    /// Extracts `tree`.
    func extract(_ tree: FlatTree) throws {
        let directories = tree.directories()
        for dir in directories {
            let (parent, name) = try parentAndName(dir.path)
            guard mkdirat(parent, name, 0o700) == 0 else { throw BaleError.posix("cannot create directory", path: path(dir.path)) }
        }
        try tree.forEachPlanned(tree.plan()) { outputs, _, reader in
            for output in outputs {
                switch output {
                case .data(let header): try create(header, reader: reader)
                case .link(let header, let target): try link(header.path, to: target)
                }
            }
        }
        for dir in directories.reversed() {
            let (parent, name) = try parentAndName(dir.path)
            if asRoot {
                guard fchownat(parent, name, uid_t(truncatingIfNeeded: dir.uid), gid_t(truncatingIfNeeded: dir.gid),
                               AT_SYMLINK_NOFOLLOW) == 0 else { throw BaleError.posix("cannot chown", path: path(dir.path)) }
            }
            guard fchmodat(parent, name, mode_t(dir.mode & 0o7777), 0) == 0 else {
                throw BaleError.posix("cannot chmod", path: path(dir.path))
            }
            var times = Self.times(dir.mtime)
            guard utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw BaleError.posix("cannot set times", path: path(dir.path))
            }
        }
    }

    private func path(_ relative: String) -> String { target + "/" + relative }

    /// Creates one non-directory member from the reader's current data.
    private func create(_ header: TarEntry, reader: TarReader) throws {
        let (parent, name) = try parentAndName(header.path)
        let full = path(header.path)
        switch header.kind {
        case .file, .hardlink:
            let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw BaleError.posix("cannot create", path: full) }
            defer { close(fd) }
            var end: Int64 = 0
            while let written = try reader.readBlock({ offset, bytes -> Int64 in
                var done = 0
                while done < bytes.count {
                    let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw BaleError.posix("write failed", path: full)
                    }
                    done += n
                }
                return offset + Int64(bytes.count)
            }) {
                end = max(end, written)
            }
            // Holes (sparse members, or a hole at the end) stay holes: only the length is set.
            if end != header.size {
                guard ftruncate(fd, off_t(header.size)) == 0 else { throw BaleError.posix("cannot set length", path: full) }
            }
            if asRoot {
                guard fchown(fd, uid_t(truncatingIfNeeded: header.uid), gid_t(truncatingIfNeeded: header.gid)) == 0 else {
                    throw BaleError.posix("cannot chown", path: full)
                }
            }
            guard fchmod(fd, mode_t(header.mode & 0o7777)) == 0 else { throw BaleError.posix("cannot chmod", path: full) }
            var times = Self.times(header.mtime)
            guard futimens(fd, &times) == 0 else { throw BaleError.posix("cannot set times", path: full) }
            return
        case .symlink:
            guard symlinkat(header.linkTarget ?? "", parent, name) == 0 else {
                throw BaleError.posix("cannot create symlink", path: full)
            }
        case .fifo:
            guard mkfifoat(parent, name, mode_t(header.mode & 0o777)) == 0 else {
                throw BaleError.posix("cannot create fifo", path: full)
            }
        case .characterDevice, .blockDevice:
            guard asRoot else {
                warnings.append("\(header.path): device node skipped (only root can create one)")
                return
            }
            let type = header.kind == .characterDevice ? S_IFCHR : S_IFBLK
            guard mknodat(parent, name, type | mode_t(header.mode & 0o7777),
                          Self.makedev(header.devMajor, header.devMinor)) == 0 else {
                throw BaleError.posix("cannot create device", path: full)
            }
        case .directory, .other:
            warnings.append("\(header.path): member of an unsupported kind skipped")
            return
        }
        if asRoot {
            guard fchownat(parent, name, uid_t(truncatingIfNeeded: header.uid), gid_t(truncatingIfNeeded: header.gid),
                           AT_SYMLINK_NOFOLLOW) == 0 else { throw BaleError.posix("cannot chown", path: full) }
        }
        if header.kind != .symlink {
            guard fchmodat(parent, name, mode_t(header.mode & 0o7777), 0) == 0 else {
                throw BaleError.posix("cannot chmod", path: full)
            }
        }
        var times = Self.times(header.mtime)
        guard utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw BaleError.posix("cannot set times", path: full)
        }
    }

    /// A hard link at `path` to the already extracted `target` (both inside the tree).
    private func link(_ path: String, to target: String) throws {
        let (targetParent, targetName) = try parentAndName(target)
        let targetDir = dup(targetParent)     // the cache may move on when the link's parent is opened
        guard targetDir >= 0 else { throw BaleError.posix("dup", path: self.path(target)) }
        defer { close(targetDir) }
        let (parent, name) = try parentAndName(path)
        guard linkat(targetDir, targetName, parent, name, 0) == 0 else {
            throw BaleError.posix("cannot create hard link to \(target)", path: self.path(path))
        }
    }

    /// The descriptor of the directory holding `relative`, and the final name. Each component is opened
    /// with O_NOFOLLOW | O_DIRECTORY from the target's descriptor, so no symlink is ever followed.
    private func parentAndName(_ relative: String) throws -> (Int32, String) {
        var components = relative.split(separator: "/").map(String.init)
        guard let name = components.popLast() else { throw BaleError(.internal, "empty path in extraction") }
        if components.isEmpty { return (rootFD, name) }
        let dirPath = components.joined(separator: "/")
        if let fd = directories[dirPath] { return (fd, name) }
        if directories.count >= Self.maxCachedDirectories {
            for fd in directories.values { close(fd) }
            directories.removeAll()
        }
        // Start from the deepest cached ancestor; open (and cache) the components below it.
        var fd = rootFD
        var prefix = ""
        for component in components {
            prefix = prefix.isEmpty ? component : prefix + "/" + component
            if let known = directories[prefix] { fd = known; continue }
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { throw BaleError.posix("cannot open directory (not followed if a symlink)", path: path(dirPath)) }
            directories[prefix] = next
            fd = next
        }
        return (fd, name)
    }

    static func times(_ t: TarTime) -> [timespec] {
        let ts = timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.nanoseconds))
        return [ts, ts]
    }

    /// glibc's makedev (sys/sysmacros.h), a macro Swift does not import.
    static func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let ma = UInt64(major), mi = UInt64(minor)
        return dev_t(((ma & 0xfff) << 8) | ((ma & ~0xfff) << 32) | (mi & 0xff) | ((mi & ~0xff) << 12))
    }
}
