import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The changeset between an image's flattened tree and a directory (`commit DIR`), written as one
/// layer tar.
///
/// ```
/// per directory, names sorted:
///   .wh.NAME          for every NAME of the base that is gone from the directory (only the top path of
///                     a deleted subtree; never together with NAME itself)
///   NAME              for every new path, and every path whose type, mode, owner, size, mtime, link
///                     target, device numbers or file capabilities (security.capability) differ; for a
///                     directory only type, mode, owner and capabilities count
///   DIR/ + changes    a directory with a change anywhere below it is written too (before its contents)
/// ```
///
/// Like moby's `ChangesDirs` (pkg/archive/changes.go), files are compared by metadata, not by content:
/// an edit that keeps size and mtime to the nanosecond is not seen. A path whose type changed is simply
/// written: a non-directory replaces the old path and its subtree when the layer is applied. As in moby
/// (changes.go compares `security.capability` next to the stat fields), a capability-only change is a
/// change. Owners and capabilities are compared only when running as root, because `export --dir` can
/// apply them only as root; otherwise a changed path keeps the base's owner and capability, and a new
/// one gets 0:0 and none.
struct Differ {
    let base: FlatTree
    let archiver: DirectoryArchiver
    /// Whether owners and capabilities on disk are the user's (as root) or only what a non-root
    /// export could not apply.
    let compareOwners = geteuid() == 0

    /// Writes the changes; returns the newest mtime written and the number of members.
    func write(to writer: TarWriter) throws -> (newest: TarTime?, members: Int) {
        var links = HardlinkMap()
        var newest: TarTime?
        var members = 0
        // Unchanged directories on the way down, written only once something below them is.
        var pendingParents: [DiskEntry] = []

        func emit(_ item: DiskEntry?, whiteout: RawPath? = nil) throws {
            for parent in pendingParents {
                try archiver.write(parent, to: writer, links: &links)
                members += 1
            }
            pendingParents.removeAll()
            if let whiteout {
                try writer.writeEntry(TarEntry(path: whiteout, kind: .file, mode: 0o644))
                members += 1
            }
            if let item {
                let mtime = archiver.clamped(item.header.mtime)
                newest = max(newest ?? mtime, mtime)
                try archiver.write(item, to: writer, links: &links)
                members += 1
            }
        }

        // Names are bytes throughout (they need not be UTF-8): the disk's names are matched with the
        // base's as bytes, and a whiteout is ".wh." followed by the name's bytes.
        func walk(_ relative: RawPath, baseDir: FlatNode?) throws {
            let names = try archiver.names(relative)
            let present = Set(names)
            if let baseDir {
                for (name, _) in baseDir.sortedChildren where !present.contains(name) {
                    try emit(nil, whiteout: relative.appending(RawPath(FlatTree.whiteoutPrefix.bytes + name.bytes)))
                }
            }
            for name in names {
                let path = relative.appending(name)
                guard var item = try archiver.entry(path) else { continue }
                let old = baseDir?.children[name]
                if !compareOwners {
                    item.header.uid = old?.effectiveEntry?.uid ?? 0
                    item.header.gid = old?.effectiveEntry?.gid ?? 0
                    item.header.xattrs[ExtendedAttributes.capability] = old?.effectiveEntry?.xattrs[ExtendedAttributes.capability]
                }
                let changed = old.map { differs(item.header, $0) } ?? true
                if item.header.kind == .directory {
                    let depth = pendingParents.count
                    if changed { try emit(item) } else { pendingParents.append(item) }
                    try walk(path, baseDir: (old?.isDirectory ?? false) ? old : nil)
                    if pendingParents.count > depth { pendingParents.removeLast(pendingParents.count - depth) }
                } else if changed {
                    try emit(item)
                }
            }
        }
        try walk("", baseDir: base.root)
        return (newest, members)
    }

    /// Equal mtimes; a base time without a fraction (ustar headers have none) matches any fraction
    /// of the same second, so a tree exported from such a layer and committed again is unchanged.
    private func sameTime(_ disk: TarTime, _ old: TarTime) -> Bool {
        disk.seconds == old.seconds && (old.nanoseconds == 0 || disk.nanoseconds == old.nanoseconds)
    }

    /// Whether the object on disk differs from the base's path.
    private func differs(_ disk: TarEntry, _ node: FlatNode) -> Bool {
        let old = node.effectiveEntry ?? TarEntry(path: "", kind: .directory, mode: 0o755)
        let oldKind = old.kind == .hardlink ? TarEntry.Kind.file : old.kind
        // A symlink's mode means nothing on Linux (always 0777 on disk), whatever a layer recorded.
        guard disk.kind == oldKind, disk.kind == .symlink || disk.mode == old.mode else { return true }
        if compareOwners && (disk.uid != old.uid || disk.gid != old.gid) { return true }
        let capability = ExtendedAttributes.capability
        if compareOwners && disk.xattrs[capability] != old.xattrs[capability] { return true }
        switch disk.kind {
        case .directory: return false
        case .file: return disk.size != old.size || !sameTime(disk.mtime, old.mtime)
        case .symlink: return disk.linkTarget != old.linkTarget || !sameTime(disk.mtime, old.mtime)
        case .characterDevice, .blockDevice:
            return disk.devMajor != old.devMajor || disk.devMinor != old.devMinor || !sameTime(disk.mtime, old.mtime)
        default: return !sameTime(disk.mtime, old.mtime)
        }
    }
}
