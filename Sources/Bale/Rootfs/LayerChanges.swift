import BaleCore
import BaleIO
import Foundation

/// One line of `docker diff`: a path the layer adds (`A`), changes (`C`, also a directory written
/// because something below it changed, as docker shows it) or deletes (`D`, a whiteout).
public struct LayerChange: Sendable, Hashable, CustomStringConvertible {
    /// docker diff's letter for each kind of change.
    public enum Kind: String, Sendable { case added = "A", changed = "C", deleted = "D" }
    /// What happened to the path.
    public var kind: Kind
    /// Absolute path in the image (`/etc/hosts`).
    public var path: String

    /// docker diff's line: `A /etc/hosts`.
    public var description: String { "\(kind.rawValue) \(path)" }
}

/// Counts of a changeset, for `commit`'s summary line.
public struct ChangeSummary: Sendable, Equatable, CustomStringConvertible {
    /// How many paths of each kind.
    public var added = 0, changed = 0, deleted = 0

    /// Counts `changes`.
    public init(_ changes: [LayerChange]) {
        for change in changes {
            switch change.kind {
            case .added: added += 1
            case .changed: changed += 1
            case .deleted: deleted += 1
            }
        }
    }

    /// `added 3, changed 1, deleted 2`.
    public var description: String { "added \(added), changed \(changed), deleted \(deleted)" }
}

extension Store {
    /// `bale diff --base IMAGE DIR`: what `commit --base IMAGE DIR` would record, as docker diff's lines,
    /// sorted by path. The Differ writes the same layer tar as for `commit`, into a sink that keeps
    /// nothing, so nothing is stored and the store is only read.
    public func changes(base: String, directory: String) throws -> [LayerChange] {
        try withLock(exclusive: false) {
            let image = try resolveAll(base, in: loadIndex())[0]
            let tree = try FlatTree(layers: image.manifest.value.layers.map { ($0.digest, blobPath($0.digest)) })
            try RootfsImage.checkDirectory(directory)
            // The differ writes the layer `commit` would store into a sink that keeps nothing; the
            // members' paths are what it records.
            var paths: [RawPath] = []
            let writer = try TarWriter(sink: ClosureByteSink { _ in }, name: directory)
            writer.onEntry = { paths.append($0) }
            _ = try Differ(base: tree, archiver: DirectoryArchiver(root: directory, clamp: nil, warn: { _ in })).write(to: writer)
            try writer.finish()
            return LayerChange.changes(of: paths, against: tree)
        }
    }

}

extension LayerChange {
    /// The changes members with these paths make to a base tree: a whiteout deletes, a path the base
    /// has changes, any other path is added.
    static func changes(of paths: [RawPath], against base: FlatTree) -> [LayerChange] {
        var changes: [(path: RawPath, kind: LayerChange.Kind)] = []
        let whiteout: RawPath = ".wh."
        for entryPath in paths {
            let parts = entryPath.components.filter { $0 != "." }
            guard let last = parts.last else { continue }
            let parent = parts.dropLast().reduce(RawPath("")) { $0.appending($1) }
            if last.hasPrefix(whiteout) {
                let name = RawPath(bytes: last.bytes.dropFirst(whiteout.bytes.count))
                guard !name.hasPrefix(whiteout) else { continue }   // opaque-directory markers
                changes.append((parent.appending(name), .deleted))
            } else {
                let path = parent.appending(last)
                changes.append((path, base.node(at: path) == nil ? .added : .changed))
            }
        }
        // Sorted by the names' bytes; shown escaped (a name need not be UTF-8).
        return changes.sorted { $0.path < $1.path }.map { LayerChange(kind: $0.kind, path: "/" + $0.path.description) }
    }
}
