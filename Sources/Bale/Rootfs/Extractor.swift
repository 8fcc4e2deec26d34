import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes the flattened tree of an image's layers into a directory, reading each layer once, never
/// writing outside the directory (DESIGN §7, FORMATS §5):
///
/// ```
/// for each member of each layer, bottom first (FlatTree.apply says what changed):
///   removed paths      unlinked; a directory with its whole subtree
///   implied parents    created 0700
///   the member         a directory (0700, so a non-root run can fill it), a file from the reader's data
///                      (sparse-aware: holes stay holes), a symlink, a hard link to a live path, a FIFO,
///                      a device (root only); owner (root only), then xattrs, mode and mtime
/// then every directory, deepest first: owner (root only), xattrs, mode, mtime
/// ```
///
/// Extended attributes (`TarEntry.xattrs`) are set after the owner, because a chown clears
/// `security.capability`, and after a file's data, because a write clears it too. As in moby
/// (createTarFile), an attribute the file system or the user may not set (EPERM, EACCES, ENOTSUP) is a
/// warning naming the path and attribute, not an error. A hard link shares its target's inode, and so
/// its attributes.
///
/// This is how a runtime applies layers (write, and later delete what an upper layer hides), so a file
/// that an upper layer replaces is written and then removed; in exchange nothing is read twice.
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
    /// Whether a new file already has the owner `(uid, gid)`: it gets the creator's IDs unless the
    /// target is setgid (then its directories pass their group down). Saves a chown per file as root.
    private let creatorOwns: (Int64, Int64) -> Bool
    /// Open descriptors of directories already reached, by relative path: each was opened with
    /// O_NOFOLLOW from its cached parent. Removing a path drops the descriptors at and under it, so a
    /// cached descriptor is always the directory now at its path. Bounded; cleared when full.
    private var directories: [RawPath: Int32] = [:] {
        didSet { lastDirectory = nil }     // a descriptor may have been closed
    }
    /// The entry of `directories` used last.
    private var lastDirectory: (path: RawPath, fd: Int32)?
    /// Well below the usual soft limit of 1024 open files, which the process shares.
    private static let maxCachedDirectories = 256
    var warnings: [String] = []
    /// Layer digest → the DiffID its config gives; a layer whose content differs fails the extraction
    /// (and what was written is removed).
    var diffIDs: [Digest: Digest] = [:]

    /// Whether `init` created the target (then a failed extraction removes it again).
    private let createdTarget: Bool

    init(target: String) throws {
        self.target = target
        createdTarget = !FileManager.default.fileExists(atPath: target)
        // The target and its parents are the user's choice, so they are created, and followed when
        // symlinks, as plain paths; only what is below the target is guarded.
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw BaleError(.conflict, "\(target): exists and is not a directory")
        }
        if createdTarget {
            do {
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            } catch {
                throw BaleError(.io, "\(target): cannot create directory (\(error.localizedDescription))")
            }
        }
        let fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BaleError.posix("cannot open directory", path: target) }
        rootFD = fd
        var st = stat()
        let inheritsGroup = fstat(fd, &st) != 0 || st.st_mode & S_ISGID != 0
        let (uid, gid) = (Int64(geteuid()), Int64(getegid()))
        creatorOwns = { !inheritsGroup && $0 == uid && $1 == gid }
        if try !Self.names(in: fd, path: target).isEmpty {
            // Fully initialised: deinit closes rootFD.
            throw BaleError(.conflict, "\(target): the target directory is not empty")
        }
    }

    deinit {
        for fd in directories.values { close(fd) }
        close(rootFD)
    }

    /// Extracts the image made of `layers` (bottom first), reading each layer once. Returns the
    /// members refused as unsafe; they are skipped, and everything else is written. When extraction
    /// fails (a corrupt layer, a full disk), what was written is removed again, so the target is left
    /// as it was found: empty, or absent if this extractor created it.
    func extract(_ layers: [LayerFile]) throws -> [RefusedMember] {
        do {
            return try extractAll(layers)
        } catch {
            for fd in directories.values { close(fd) }
            directories.removeAll()
            var leftover: String?
            do {
                for name in try Self.names(in: rootFD, path: target) {
                    try Self.remove(name, in: rootFD, path: path(name))
                }
                if createdTarget && rmdir(target) != 0 { throw BaleError.posix("cannot remove", path: target) }
            } catch let failure as BaleError {
                leftover = failure.message
            } catch {
                leftover = "\(error)"
            }
            guard let leftover, let bale = error as? BaleError else { throw error }
            throw BaleError(bale.code, bale.message + " (and what was written could not all be removed: \(leftover))",
                            cause: bale.cause)
        }
    }

    private func extractAll(_ layers: [LayerFile]) throws -> [RefusedMember] {
        let tree = FlatTree()
        try FlatTree.forEachMember(of: layers, diffIDs: diffIDs) { layer, ordinal, entry, reader in
            let applied = tree.apply(entry, layer: layer, ordinal: ordinal, digest: layers[layer].digest)
            for path in applied.removed { try remove(path) }
            for path in applied.implied { try makeDirectory(path) }
            if let header = applied.added?.entry {
                switch header.kind {
                case .directory: try makeDirectory(header.path)
                case .hardlink: try link(header.path, to: header.linkTarget ?? "")
                default: try create(header, reader: reader)
                }
            }
            return true
        }
        if tree.root.children[FlatTree.aufsLinkDirectory] != nil { try remove(FlatTree.aufsLinkDirectory) }
        warnings = tree.warnings + warnings
        for dir in tree.directories(sorted: false).reversed() {
            let (parent, name) = try parentAndName(dir.path)
            if asRoot {
                guard name.withCString({ fchownat(parent, $0, uid_t(truncatingIfNeeded: dir.uid),
                                                  gid_t(truncatingIfNeeded: dir.gid), AT_SYMLINK_NOFOLLOW) }) == 0 else {
                    throw BaleError.posix("cannot chown", path: path(dir.path))
                }
            }
            try setXattrs(dir, fileDescriptor: nil, parent: parent, name: name)
            guard name.withCString({ fchmodat(parent, $0, mode_t(dir.mode & 0o7777), 0) }) == 0 else {
                throw BaleError.posix("cannot chmod", path: path(dir.path))
            }
            var times = Self.times(dir.mtime)
            guard name.withCString({ utimensat(parent, $0, &times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw BaleError.posix("cannot set times", path: path(dir.path))
            }
        }
        return tree.refused
    }

    private func makeDirectory(_ relative: RawPath) throws {
        let (parent, name) = try parentAndName(relative)
        guard name.withCString({ mkdirat(parent, $0, 0o700) }) == 0 else { throw BaleError.posix("cannot create directory", path: path(relative)) }
    }

    /// Removes `relative` (a directory with everything in it); a path that is not there (a member that
    /// was skipped) is no error.
    private func remove(_ relative: RawPath) throws {
        let (parent, name) = try parentAndName(relative)
        let below = RawPath(relative.bytes + [UInt8(ascii: "/")])
        for (cached, fd) in directories where cached == relative || cached.hasPrefix(below) {
            close(fd)
            directories[cached] = nil
        }
        try Self.remove(name, in: parent, path: path(relative))
    }

    /// Unlinks `name` in the directory `parent`; a directory is emptied first, depth first, each level
    /// opened with O_NOFOLLOW from the one above.
    private static func remove(_ name: RawPath, in parent: Int32, path: String) throws {
        if name.withCString({ unlinkat(parent, $0, 0) }) == 0 || errno == ENOENT { return }
        guard errno == EISDIR else { throw BaleError.posix("cannot remove", path: path) }
        var fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if fd < 0 && errno == EACCES {
            // A directory whose final mode is set may be closed to its owner: open it again after a chmod
            // through an O_PATH descriptor (never a symlink: O_NOFOLLOW | O_DIRECTORY).
            let handle = name.withCString { openat(parent, $0, Self.oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if handle >= 0 {
                _ = chmod("/proc/self/fd/\(handle)", 0o700)
                close(handle)
            }
            fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        }
        guard fd >= 0 else { throw BaleError.posix("cannot open directory (not followed if a symlink)", path: path) }
        defer { close(fd) }
        _ = fchmod(fd, 0o700)     // and writable, so its entries can be removed
        for child in try names(in: fd, path: path) {
            try remove(child, in: fd, path: path + "/" + child.description)
        }
        guard name.withCString({ unlinkat(parent, $0, AT_REMOVEDIR) }) == 0 else { throw BaleError.posix("cannot remove", path: path) }
    }

    /// The names in the directory `fd` (without "." and ".."), as bytes; `fd` stays open and usable.
    private static func names(in fd: Int32, path: String) throws -> [RawPath] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw BaleError.posix("cannot read directory", path: path)
        }
        defer { closedir(dir) }
        rewinddir(dir)     // the copy shares the read position with `fd`, which an earlier listing moved
        var names: [RawPath] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { RawPath(bytes: $0.prefix(while: { $0 != 0 })) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The full path of `relative`, for messages (escaped, see `RawPath.description`); keeps `errno`,
    /// which messages built after a failed call still have to read.
    private func path(_ relative: RawPath) -> String {
        let saved = errno
        defer { errno = saved }
        return target + "/" + relative.description
    }

    /// Creates one non-directory member from the reader's current data.
    private func create(_ header: TarEntry, reader: TarReader) throws {
        let (parent, name) = try parentAndName(header.path)
        var full: String { path(header.path) }     // for messages only
        switch header.kind {
        case .file, .hardlink:
            let mode = mode_t(header.mode & 0o7777)
            let fd = name.withCString { openat(parent, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o777) }
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
            if asRoot && !creatorOwns(header.uid, header.gid) {
                guard fchown(fd, uid_t(truncatingIfNeeded: header.uid), gid_t(truncatingIfNeeded: header.gid)) == 0 else {
                    throw BaleError.posix("cannot chown", path: full)
                }
            }
            // Always: the mode given at creation is cut by the umask, or by a default ACL instead.
            guard fchmod(fd, mode) == 0 else { throw BaleError.posix("cannot chmod", path: full) }
            try setXattrs(header, fileDescriptor: fd, parent: parent, name: name)
            var times = Self.times(header.mtime)
            guard futimens(fd, &times) == 0 else { throw BaleError.posix("cannot set times", path: full) }
            return
        case .symlink:
            let made = (header.linkTarget ?? "").withCString { target in
                name.withCString { symlinkat(target, parent, $0) }
            }
            guard made == 0 else {
                throw BaleError.posix("cannot create symlink", path: full)
            }
        case .fifo:
            guard name.withCString({ mkfifoat(parent, $0, mode_t(header.mode & 0o777)) }) == 0 else {
                throw BaleError.posix("cannot create fifo", path: full)
            }
        case .characterDevice, .blockDevice:
            guard asRoot else {
                warnings.append("\(header.path.description): device node skipped (only root can create one)")
                return
            }
            let type = header.kind == .characterDevice ? S_IFCHR : S_IFBLK
            let device = Self.makedev(header.devMajor, header.devMinor)
            guard name.withCString({ mknodat(parent, $0, type | mode_t(header.mode & 0o7777), device) }) == 0 else {
                throw BaleError.posix("cannot create device", path: full)
            }
        case .directory, .other:
            warnings.append("\(header.path.description): member of an unsupported kind skipped")
            return
        }
        if asRoot {
            guard name.withCString({ fchownat(parent, $0, uid_t(truncatingIfNeeded: header.uid),
                                              gid_t(truncatingIfNeeded: header.gid), AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw BaleError.posix("cannot chown", path: full)
            }
        }
        try setXattrs(header, fileDescriptor: nil, parent: parent, name: name)
        if header.kind != .symlink {
            guard name.withCString({ fchmodat(parent, $0, mode_t(header.mode & 0o7777), 0) }) == 0 else {
                throw BaleError.posix("cannot chmod", path: full)
            }
        }
        var times = Self.times(header.mtime)
        guard name.withCString({ utimensat(parent, $0, &times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw BaleError.posix("cannot set times", path: full)
        }
    }

    /// Sets every extended attribute of `header` on the object `name` in the directory `parent`: through
    /// `fileDescriptor` when the object is open (a file), through a descriptor opened with O_NOFOLLOW for
    /// a directory, else (symlinks, FIFOs, devices, which cannot be opened safely) with `lsetxattr` on
    /// `/proc/self/fd/PARENT/NAME`, which reaches the parent through its descriptor and does not follow
    /// the final name. Call it after any chown. EPERM, EACCES and ENOTSUP become warnings.
    private func setXattrs(_ header: TarEntry, fileDescriptor: Int32?, parent: Int32, name: RawPath) throws {
        guard !header.xattrs.isEmpty else { return }
        var fd = fileDescriptor ?? -1
        var opened = false
        defer { if opened { close(fd) } }
        if fd < 0 && header.kind == .directory {
            fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else {
                throw BaleError.posix("cannot open directory (not followed if a symlink)", path: path(header.path))
            }
            opened = true
        }
        for (key, value) in header.xattrs.sorted(by: { $0.key < $1.key }) {
            do {
                if fd >= 0 {
                    try ExtendedAttributes.set(key, value: value, fileDescriptor: fd, path: path(header.path))
                } else {
                    try ExtendedAttributes.set(key, value: value,
                                               path: RawPath("/proc/self/fd/\(parent)/").appending(name))
                }
            } catch {
                let code = ExtendedAttributes.errorNumber(error) ?? 0
                guard [EPERM, EACCES, ENOTSUP, EOPNOTSUPP].contains(code) else {
                    throw BaleError(.io, "\(path(header.path)): cannot set extended attribute \(key)", cause: error)
                }
                warnings.append("\(header.path.description): extended attribute \(key) not set: \(String(cString: strerror(code)))")
            }
        }
    }

    /// A hard link at `path` to the already extracted `target` (both inside the tree).
    private func link(_ path: RawPath, to target: RawPath) throws {
        let (targetParent, targetName) = try parentAndName(target)
        let targetDir = dup(targetParent)     // the cache may move on when the link's parent is opened
        guard targetDir >= 0 else { throw BaleError.posix("dup", path: self.path(target)) }
        defer { close(targetDir) }
        let (parent, name) = try parentAndName(path)
        let linked = targetName.withCString { from in name.withCString { linkat(targetDir, from, parent, $0, 0) } }
        guard linked == 0 else {
            if errno == ENOENT {    // the target is a member that was skipped (a device, as non-root)
                warnings.append("\(path): hard link to \(target) skipped (its target was skipped)")
                return
            }
            throw BaleError.posix("cannot create hard link to \(target.quoted)", path: self.path(path))
        }
    }

    /// The descriptor of the directory holding `relative`, and the final name. Each component is opened
    /// with O_NOFOLLOW | O_DIRECTORY from the target's descriptor, so no symlink is ever followed.
    private func parentAndName(_ relative: RawPath) throws -> (Int32, RawPath) {
        guard !relative.isEmpty else { throw BaleError(.internal, "empty path in extraction") }
        guard let slash = relative.bytes.lastIndex(of: UInt8(ascii: "/")) else { return (rootFD, relative) }
        let name = RawPath(bytes: relative.bytes[(slash + 1)...])
        let parentBytes = relative.bytes[..<slash]
        // Members come directory by directory: most have the last member's parent.
        if let last = lastDirectory, last.path.bytes.elementsEqual(parentBytes) { return (last.fd, name) }
        let dirPath = RawPath(bytes: parentBytes)
        if let fd = directories[dirPath] {
            lastDirectory = (dirPath, fd)
            return (fd, name)
        }
        if directories.count >= Self.maxCachedDirectories {
            for fd in directories.values { close(fd) }
            directories.removeAll()
        }
        // Start from the deepest cached ancestor; open (and cache) the components below it.
        var fd = rootFD
        var prefix: RawPath = ""
        for component in dirPath.components {
            prefix = prefix.appending(component)
            if let known = directories[prefix] { fd = known; continue }
            let next = component.withCString { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard next >= 0 else { throw BaleError.posix("cannot open directory (not followed if a symlink)", path: path(dirPath)) }
            directories[prefix] = next
            fd = next
        }
        lastDirectory = (dirPath, fd)
        return (fd, name)
    }

    /// Linux's O_PATH (fcntl.h), which Glibc's Swift module does not export.
    static let oPath: Int32 = 0o10000000

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
