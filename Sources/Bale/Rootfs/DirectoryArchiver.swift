import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One file-system object found under a directory being archived.
struct DiskEntry {
    /// The tar header it becomes (root-relative path, numeric owner, no names).
    var header: TarEntry
    /// Identity, to find hard links.
    var device: UInt64
    var inode: UInt64
    var links: UInt64
}

/// Reads a directory tree deterministically and writes it as tar members (`import DIR`, and the new
/// and changed paths of `commit DIR`).
///
/// ```
/// order     depth first, names sorted by their bytes, a directory before its contents;
///           the root itself is not a member
/// names     the bytes on disk, UTF-8 or not (never repaired: a repaired name is a path that does not
///           exist, or one that two names share)
/// headers   numeric uid/gid as on disk, no user/group names, mode & 07777, mtime with nanoseconds
///           (clamped to SOURCE_DATE_EPOCH when given, as it is written), symlink targets as stored, device numbers
/// links     a second path of an inode already written (same st_dev, st_ino) is a hard link member
/// xattrs    security.capability only, like moby (pkg/archive/archive.go ReadSecurityXattrToTarHeader),
///           as a PAX SCHILY.xattr record; a v3 (namespaced) capability is written as v2
/// skipped   sockets (with a warning); every other extended attribute
/// ```
struct DirectoryArchiver {
    /// The directory archived.
    let root: String
    /// Latest mtime written; later ones are clamped to it (SOURCE_DATE_EPOCH).
    let clamp: TarTime?
    /// Collects warnings (skipped sockets).
    let warn: @Sendable (String) -> Void

    /// `time`, or the clamp when that is earlier: the mtime a header gets.
    func clamped(_ time: TarTime) -> TarTime {
        if let clamp, clamp < time { return clamp }
        return time
    }

    /// lstat of `relative` (root-relative; "" is the root) as a `DiskEntry`, with the mtime as on
    /// disk (`write` clamps it); nil for a socket or a path that no longer exists (both with a warning).
    func entry(_ relative: RawPath) throws -> DiskEntry? {
        let full = path(relative)
        var st = stat()
        guard full.withCString({ lstat($0, &st) }) == 0 else {
            // A path removed since its directory was listed (a live tree): skipped, as GNU tar does.
            if errno == ENOENT {
                warn("\(full): removed while it was archived; skipped")
                return nil
            }
            throw BaleError.posix("cannot stat", path: full.description)
        }
        let nameStart = relative.bytes.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? 0
        if relative.bytes[nameStart...].starts(with: FlatTree.whiteoutPrefix.bytes) {
            warn("\(full): a name starting with \".wh.\" is read as a whiteout by every image tool")
        }
        let kind: TarEntry.Kind
        var linkTarget: RawPath?
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK:
            kind = .symlink
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = full.withCString { readlink($0, &buffer, buffer.count - 1) }
            guard n >= 0 else { throw BaleError.posix("cannot read link", path: full.description) }
            linkTarget = RawPath(bytes: buffer[0..<n].map { UInt8(bitPattern: $0) })     // bytes, like names
        case S_IFCHR: kind = .characterDevice
        case S_IFBLK: kind = .blockDevice
        case S_IFIFO: kind = .fifo
        default:
            warn("\(full): socket skipped")
            return nil
        }
        // As on disk: the clamp applies when the header is written, so `commit` compares real times.
        let mtime = TarTime(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: Int32(st.st_mtim.tv_nsec))
        let rdev = UInt64(st.st_rdev)
        let isDevice = kind == .characterDevice || kind == .blockDevice
        let header = TarEntry(
            path: relative, kind: kind, size: kind == .file ? Int64(st.st_size) : 0,
            mode: UInt32(st.st_mode) & 0o7777, uid: Int64(st.st_uid), gid: Int64(st.st_gid), mtime: mtime,
            linkTarget: linkTarget,
            devMajor: isDevice ? UInt32(truncatingIfNeeded: ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)) : 0,
            devMinor: isDevice ? UInt32(truncatingIfNeeded: (rdev & 0xff) | ((rdev >> 12) & ~0xff)) : 0,
            xattrs: kind == .symlink ? [:] : try Self.capabilityXattrs(full))
        return DiskEntry(header: header, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                         links: UInt64(st.st_nlink))
    }

    /// The file capabilities of `full` as a tar member's xattrs: `[security.capability: v2 value]`, or
    /// empty. A VFS_CAP_REVISION_3 value (24 bytes: v2's 20 plus the root ID of the user namespace it was
    /// set in) becomes revision 2, its first 20 bytes, as moby does: the root ID means nothing outside
    /// the namespace the directory was built in.
    static func capabilityXattrs(_ full: RawPath) throws -> [String: Data] {
        guard var value = try ExtendedAttributes.value(ExtendedAttributes.capability, path: full) else { return [:] }
        // magic_etc is little-endian; its top byte (offset 3) is the revision.
        if value.count >= 24, value[value.startIndex + 3] == 3 {
            value = Data(value.prefix(20))
            value[value.startIndex + 3] = 2
        }
        return [ExtendedAttributes.capability: value]
    }

    /// The names in directory `relative`, sorted by their bytes.
    func names(_ relative: RawPath) throws -> [RawPath] {
        let full = path(relative)
        guard let dir = full.withCString({ opendir($0) }) else {
            throw BaleError.posix("cannot read directory", path: full.description)
        }
        defer { closedir(dir) }
        var names: [RawPath] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { RawPath(bytes: $0.prefix(while: { $0 != 0 })) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The path of `relative` ("" is the root) on disk.
    func path(_ relative: RawPath) -> RawPath {
        relative.isEmpty ? RawPath(root) : RawPath(root).appending(relative)
    }

    /// Writes every object under the root; returns the newest mtime written (nil for an empty tree).
    func archive(to writer: TarWriter) throws -> TarTime? {
        var links = HardlinkMap()
        var newest: TarTime?
        func walk(_ relative: RawPath) throws {
            for name in try names(relative) {
                let path = relative.appending(name)
                guard let item = try entry(path) else { continue }
                let mtime = clamped(item.header.mtime)
                newest = max(newest ?? mtime, mtime)
                try write(item, to: writer, links: &links)
                if item.header.kind == .directory { try walk(path) }
            }
        }
        try walk("")
        return newest
    }

    /// Writes one object: a hard link if its inode was written before, else the object with its data.
    func write(_ item: DiskEntry, to writer: TarWriter, links: inout HardlinkMap) throws {
        var header = item.header
        header.mtime = clamped(header.mtime)
        if header.kind != .directory && item.links > 1 {
            if let first = links.paths[[item.device, item.inode]] {
                header.kind = .hardlink
                header.linkTarget = first
                header.size = 0
                try writer.writeEntry(header)
                return
            }
            links.paths[[item.device, item.inode]] = header.path
        }
        if header.kind == .directory { header.path.bytes.append(UInt8(ascii: "/")) }
        guard header.kind == .file else {
            try writer.writeEntry(header)
            return
        }
        let full = path(item.header.path)
        let fd = full.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw BaleError.posix("cannot open", path: full.description) }
        defer { close(fd) }
        try writer.beginEntry(header)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = header.size
        while remaining > 0 {
            let n = read(fd, buffer.baseAddress, min(buffer.count, Int(remaining)))
            if n < 0 {
                if errno == EINTR { continue }
                throw BaleError.posix("read failed", path: full.description)
            }
            guard n > 0 else { throw BaleError(.io, "\(full): file shrank while it was archived") }
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= Int64(n)
        }
        try writer.endEntry()
    }
}

/// Paths already written, by (device, inode).
struct HardlinkMap {
    var paths: [[UInt64]: RawPath] = [:]
}
