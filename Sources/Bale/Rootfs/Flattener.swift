import BaleCore
import BaleIO
import Foundation

/// A member of a layer that flattening or extraction refused, and why.
public struct RefusedMember: Sendable, Hashable, CustomStringConvertible {
    /// The layer blob's digest.
    public var layer: Digest
    /// The member name as stored in the layer (bytes: it need not be UTF-8).
    public var member: RawPath
    /// Why it was refused.
    public var reason: String

    /// `layer sha256:…: member "x": reason`
    public var description: String { "layer \(layer): member \(member.quoted): \(reason)" }
}

/// One path of the flattened tree.
final class FlatNode {
    /// The header the path gets (its `path` is the cleaned root-relative path); `nil` for a directory
    /// implied by a deeper member and never given by a header.
    var entry: TarEntry?
    /// The layer (0 = bottom) and member ordinal the header, and the data, come from.
    var layer: Int
    var ordinal: Int
    /// Children by name (directories only), the names as bytes.
    var children: [RawPath: FlatNode] = [:]
    /// For a hardlink: the node holding the data (links to links are resolved to it).
    var linkTarget: FlatNode?

    init(entry: TarEntry?, layer: Int, ordinal: Int) {
        self.entry = entry
        self.layer = layer
        self.ordinal = ordinal
    }

    var isDirectory: Bool { entry == nil || entry?.kind == .directory }

    /// The header whose attributes the path has on disk (a hardlink shares its target's inode).
    var effectiveEntry: TarEntry? { linkTarget?.entry ?? entry }

    /// Whether this is the tree's root (whose AUFS hard-link directory is never output).
    var isRoot = false

    /// Children sorted by name (byte order), for deterministic output; at the root without
    /// AUFS's hard-link directory, which is never part of the output (see `FlatTree.aufsLinkDirectory`).
    var sortedChildren: [(RawPath, FlatNode)] {
        children.filter { !isRoot || $0.key != FlatTree.aufsLinkDirectory }.sorted { $0.key < $1.key }
    }
}

/// A layer blob in the store: its digest (for messages) and the file holding it.
typealias LayerFile = (digest: Digest, path: String)

/// What applying one member changed in a `FlatTree`, for a consumer that mirrors the tree on disk while
/// it is built (`Extractor`): remove `removed`, create `implied`, then create `added`.
struct AppliedMember {
    /// Paths that left the tree, each the top of what left (a whole subtree for a directory).
    var removed: [RawPath] = []
    /// Directories created because the member's path implied them, parents first.
    var implied: [RawPath] = []
    /// The node the member added; nil when it was refused, was a whiteout, or merged into a directory.
    var added: FlatNode?
}

/// The result of applying every layer of an image, bottom to top, to an empty tree (FORMATS §5):
/// opaque markers, whiteouts, directory merges and replacements applied; no `.wh.` names left.
///
/// Built from headers only, one member at a time by `apply`. Two consumers: `init(layers:)` reads the
/// headers of every layer first, so that `plan` can then write a tar of the final tree in one data pass
/// (`export` to a tar, the base of `commit DIR`); `Extractor` applies each member to the tree and to a
/// directory as it reads it, so a directory export reads every layer once. Handed from one thread to
/// another, never shared, hence `@unchecked Sendable`.
public final class FlatTree: @unchecked Sendable {
    let root: FlatNode = {
        let node = FlatNode(entry: nil, layer: -1, ordinal: -1)
        node.isRoot = true
        return node
    }()
    /// AUFS keeps the data of hard links in `/.wh..wh.plnk/` and links to it from the real paths
    /// (moby, pkg/archive). The directory is built like any other so that links into it resolve, but
    /// it is never output: `sortedChildren` leaves it out, so the tar plan turns the first link to each
    /// of its files into the file itself, and the extractor removes it at the end.
    static let aufsLinkDirectory: RawPath = ".wh..wh.plnk"
    /// The prefix of whiteout names.
    static let whiteoutPrefix: RawPath = ".wh."
    /// Members refused while building the tree, in the order met.
    public private(set) var refused: [RefusedMember] = []
    /// Members dropped as meaningless but harmless (entries under a whiteout's name), in the order met.
    public private(set) var warnings: [String] = []
    /// The directory that held the last member, by path: a layer lists a directory's members together,
    /// so most members skip the walk from the root. Forgotten whenever anything leaves the tree (then
    /// the node might no longer be at that path).
    private var lastParent: (path: RawPath, node: FlatNode)?

    /// An empty tree, for `apply`.
    init() {}

    /// Reads the headers of every layer (files in any compression TarReader detects) and builds the
    /// tree. Unsafe members are refused and recorded, not fatal; unreadable layers throw, and so does a
    /// layer whose content is not the DiffID `diffIDs` gives for it (see `forEachMember`).
    public convenience init(layers: [(digest: Digest, path: String)], diffIDs: [Digest: Digest] = [:]) throws {
        self.init()
        try Self.forEachMember(of: layers, diffIDs: diffIDs) { layer, ordinal, entry, _ in
            _ = apply(entry, layer: layer, ordinal: ordinal, digest: layers[layer].digest)
            return true
        }
    }

    /// Reads the layers bottom first and calls `body` with each member's layer index, ordinal in its
    /// layer and header, and the reader positioned at its data. `body` returns false to stop reading
    /// the current layer and go on with the next.
    /// With `verifying` (a first read), each layer read to its end is checked against its digest and,
    /// when `diffIDs` gives one, its DiffID; a second read of the same files skips the hashing.
    static func forEachMember(of layers: [LayerFile], diffIDs: [Digest: Digest] = [:], verifying: Bool = true,
                              _ body: (_ layer: Int, _ ordinal: Int, _ entry: TarEntry, _ reader: TarReader) throws -> Bool) throws {
        for (index, layer) in layers.enumerated() {
            let stream = try LayerTarStream(path: layer.path, digest: verifying ? layer.digest : nil,
                                            checksDiffID: verifying && diffIDs[layer.digest] != nil,
                                            name: "layer \(layer.digest)")
            defer { stream.close() }
            var ordinal = -1
            var stopped = false
            while let entry = try stream.reader.next() {
                ordinal += 1
                guard try body(index, ordinal, entry, stream.reader) else { stopped = true; break }
            }
            if !stopped { try stream.finish() }
            // The uncompressed bytes were read anyway: a layer that is not what its config says is
            // refused (issue #10). A gzip layer's DiffID is hashed on the inflater thread; a plain tar's
            // is its digest, checked as it came in; other compressions are not hashed here.
            if let expected = diffIDs[layer.digest], let actual = stopped ? nil : stream.diffID ?? (stream.isPlain ? layer.digest : nil),
               actual != expected {
                throw BaleError(.integrity, "layer \(layer.digest): invalid diffID: the config gives \(expected), its uncompressed content hashes to \(actual)")
            }
        }
    }

    /// The node at a cleaned path, if present.
    func node(at path: RawPath) -> FlatNode? {
        var node = root
        for component in path.components {
            guard let child = node.children[component] else { return nil }
            node = child
        }
        return node
    }

    /// Applies one member of layer `layer` (0 = bottom), the `ordinal`-th of its layer, and says what
    /// changed. A refused member is recorded in `refused` and changes nothing; so is a dropped one, in
    /// `warnings`.
    func apply(_ raw: TarEntry, layer: Int, ordinal: Int, digest: Digest) -> AppliedMember {
        var applied = AppliedMember()
        switch apply(raw, layer: layer, ordinal: ordinal, into: &applied) {
        case nil: break
        case .refused(let reason)?:
            refused.append(RefusedMember(layer: digest, member: raw.path, reason: reason))
        case .dropped(let reason)?:
            warnings.append(RefusedMember(layer: digest, member: raw.path, reason: reason).description)
        }
        return applied
    }

    /// Why `apply` left a member out.
    private enum Skip {
        /// Unsafe: the image is not exported as it was meant.
        case refused(String)
        /// Meaningless but harmless: a warning.
        case dropped(String)
    }

    /// The body of `apply`: returns why the member is left out, or nil.
    private func apply(_ raw: TarEntry, layer: Int, ordinal: Int, into applied: inout AppliedMember) -> Skip? {
        let path: RawPath
        do {
            // moby strips a leading "/" from layer entries; ".." that climbs out is refused.
            path = try SafePath.clean(raw.path, allowAbsolute: true)
        } catch let error as BaleError {
            return .refused(error.message.replacingOccurrences(of: #"^member ".*": "#, with: "",
                                                               options: .regularExpression))
        } catch {
            return .refused("\(error)")
        }
        if path.isEmpty { return nil }    // the root itself: its attributes are the target's
        defer { if !applied.removed.isEmpty { lastParent = nil } }
        // Split on the bytes: names are bytes (they need not be UTF-8), and a cleaned path has exactly
        // one "/" between components. No text is made here: this runs for every member.
        let slash = path.bytes.lastIndex(of: UInt8(ascii: "/"))
        let parentBytes = slash.map { path.bytes[..<$0] } ?? []
        let name = slash.map { RawPath(bytes: path.bytes[($0 + 1)...]) } ?? path
        // The path above `name` and its components, made only when the cached parent does not apply.
        var parentPath: RawPath { RawPath(bytes: parentBytes) }
        var components: [RawPath] { parentPath.components }

        // Whiteout names are matched on their bytes, as every other tool does (String's hasPrefix
        // works on characters, and ".wh." followed by a combining mark is not a character prefix).
        // Whatever its type (file, directory, …), a member named ".wh.NAME" is a whiteout of NAME.
        if name.hasPrefix(Self.whiteoutPrefix) && path != Self.aufsLinkDirectory {
            if name == ".wh..wh..opq" {
                if let dir = existingDirectory(components) {
                    pruneLower(dir, path: parentPath, layer: layer, removed: &applied.removed)
                }
                return nil
            }
            if name.hasPrefix(".wh..wh.") { return nil }     // other AUFS metadata
            let target = RawPath(bytes: name.bytes.dropFirst(4))
            if target.isEmpty { return .refused("a bare \".wh.\" whiteout is invalid") }
            if let dir = existingDirectory(components), let child = dir.children[target] {
                let childPath = parentPath.appending(target)
                var below: [RawPath] = []
                if pruneLower(child, path: childPath, layer: layer, removed: &below) {
                    applied.removed += below
                } else {
                    dir.children[target] = nil
                    applied.removed.append(childPath)
                }
            }
            return nil
        }

        // Parents must be directories; a symlink parent would make the path resolve elsewhere.
        var node = root
        var missingFrom: Int?
        let parents: [RawPath]
        if let last = lastParent, last.path.bytes.elementsEqual(parentBytes) {
            node = last.node
            parents = []
        } else {
            parents = components
            var above: RawPath = ""
            for (i, component) in parents.enumerated() {
                above = above.appending(component)
                // A member below a whiteout's name (".wh.x/child"): the OCI layer spec gives ".wh.x" one
                // meaning, "x is deleted", and none to anything inside it. As containerd and moby read
                // only the final name, they would create a directory ".wh.x"; bale keeps the one
                // meaning (the member ".wh.x" itself, if present, hides "x") and drops what is below,
                // so no ".wh." name reaches an export. AUFS's hard-link directory at the root is the
                // exception: links point into it.
                if component.hasPrefix(Self.whiteoutPrefix) && !(i == 0 && component == Self.aufsLinkDirectory) {
                    return .dropped("dropped: it is inside the whiteout \(above.quoted), which only deletes "
                                    + "\(RawPath(bytes: component.bytes.dropFirst(4)).quoted) and holds nothing")
                }
                if missingFrom != nil { continue }
                guard let child = node.children[component] else { missingFrom = i; continue }
                guard child.isDirectory else {
                    let what = child.entry?.kind == .symlink ? "a symlink" : "not a directory"
                    return .refused("parent \(above.quoted) is \(what)")
                }
                node = child
            }
        }
        var entry = raw
        entry.path = path
        var hardlinkTarget: FlatNode?
        if raw.kind == .hardlink {
            guard let text = raw.linkTarget, !text.isEmpty else { return .refused("hardlink without a target") }
            let targetPath: RawPath
            do {
                targetPath = try SafePath.clean(text, allowAbsolute: true)
            } catch {
                return .refused("hardlink target \(text.quoted) is outside the root")
            }
            guard targetPath != path, let target = self.node(at: targetPath), !target.isDirectory else {
                return .refused("hardlink target \(text.quoted) is not an earlier file of the image")
            }
            hardlinkTarget = target.linkTarget ?? target
            entry.linkTarget = targetPath     // the live path it names now, cleaned
        }
        if let start = missingFrom {
            var above = RawPath(bytes: parents[..<start].map(\.bytes).joined(separator: [UInt8(ascii: "/")]))
            for component in parents[start...] {
                let implied = FlatNode(entry: nil, layer: layer, ordinal: -1)
                node.children[component] = implied
                node = implied
                above = above.appending(component)
                applied.implied.append(above)
            }
        }
        if lastParent.map({ !$0.path.bytes.elementsEqual(parentBytes) }) ?? true {
            lastParent = (parentPath, node)
        }
        if let existing = node.children[name] {
            if existing.isDirectory, entry.kind == .directory {
                existing.entry = entry       // directory onto directory: merge, take the new attributes
                existing.layer = layer
                existing.ordinal = ordinal
                return nil
            }
            applied.removed.append(path)     // anything else replaces the old path and its subtree
        }
        let fresh = FlatNode(entry: entry, layer: layer, ordinal: ordinal)
        fresh.linkTarget = hardlinkTarget
        node.children[name] = fresh
        applied.added = fresh
        return nil
    }

    /// The directory node at `components`, when every component exists and is a directory.
    private func existingDirectory(_ components: [RawPath]) -> FlatNode? {
        var node = root
        for component in components {
            guard let child = node.children[component], child.isDirectory else { return nil }
            node = child
        }
        return node
    }

    /// Drops everything below `node` (at `path`) that came from layers under `layer`, adding to `removed`
    /// the top path of each dropped subtree; returns whether `node` itself stays (it is from `layer`, or a
    /// directory still holding something from `layer`).
    @discardableResult
    private func pruneLower(_ node: FlatNode, path: RawPath, layer: Int, removed: inout [RawPath]) -> Bool {
        for (name, child) in node.children {
            let childPath = path.appending(name)
            var below: [RawPath] = []
            if pruneLower(child, path: childPath, layer: layer, removed: &below) {
                removed += below
            } else {
                node.children[name] = nil
                removed.append(childPath)    // the whole subtree: its own removals are implied
            }
        }
        return node.layer >= layer || (node.isDirectory && !node.children.isEmpty)
    }

    // MARK: - Emission

    /// What is written for one member of a layer in the data pass.
    enum Output {
        /// A member with the source member's data, at `header.path`.
        case data(TarEntry)
        /// A hard link at `path` to the earlier output `target`.
        case link(TarEntry, target: RawPath)
    }

    /// Every directory in parents-first order, with its header (implied ones get 0755, root-owned);
    /// siblings by name when `sorted`, else in no set order (the extractor needs parents first only).
    func directories(sorted: Bool = true) -> [TarEntry] {
        var out: [TarEntry] = []
        func walk(_ node: FlatNode, _ prefix: RawPath) {
            let children = sorted ? node.sortedChildren
                : node.children.filter { !node.isRoot || $0.key != FlatTree.aufsLinkDirectory }.map { ($0.key, $0.value) }
            for (name, child) in children where child.isDirectory {
                let path = prefix.appending(name)
                out.append(child.entry ?? TarEntry(path: path, kind: .directory, mode: 0o755))
                walk(child, path)
            }
        }
        walk(root, "")
        return out
    }

    /// The data-pass plan: for each layer, member ordinal → outputs, so every non-directory is written
    /// when its source member passes, and every hard link after the path it points to.
    func plan() -> [Int: [Int: [Output]]] {
        var plan: [Int: [Int: [Output]]] = [:]
        func add(_ layer: Int, _ ordinal: Int, _ output: Output) {
            plan[layer, default: [:]][ordinal, default: []].append(output)
        }
        // Live nodes, parents first, and the hardlinks grouped by the node holding their data.
        var live = Set<ObjectIdentifier>()
        var nonDirectories: [FlatNode] = []
        func walk(_ node: FlatNode) {
            for (_, child) in node.sortedChildren {
                live.insert(ObjectIdentifier(child))
                if child.isDirectory { walk(child) } else { nonDirectories.append(child) }
            }
        }
        walk(root)
        var links: [ObjectIdentifier: [FlatNode]] = [:]
        var carriers: [ObjectIdentifier: FlatNode] = [:]
        for node in nonDirectories {
            if let target = node.linkTarget {
                links[ObjectIdentifier(target), default: []].append(node)
                carriers[ObjectIdentifier(target)] = target
            } else if let entry = node.entry {
                add(node.layer, node.ordinal, .data(entry))
            }
        }
        for (key, group) in links {
            guard let carrier = carriers[key], let carrierEntry = carrier.entry else { continue }
            var members = group.sorted { ($0.layer, $0.ordinal) < ($1.layer, $1.ordinal) }
            let targetPath: RawPath
            if live.contains(key) {
                targetPath = carrierEntry.path
            } else {
                // The target was replaced or deleted: the first link becomes a file with its data.
                let first = members.removeFirst()
                var header = carrierEntry
                header.path = first.entry?.path ?? header.path
                add(carrier.layer, carrier.ordinal, .data(header))
                targetPath = header.path
            }
            for link in members {
                guard var header = link.entry else { continue }
                header.kind = .hardlink
                header.linkTarget = targetPath
                add(link.layer, link.ordinal, .link(header, target: targetPath))
            }
        }
        return plan
    }

    /// The second pass over `layers` (those the tree was built from): reads each layer that holds
    /// needed data, in layer order, and calls `body` for every planned member with the reader positioned
    /// at its data.
    func forEachPlanned(_ plan: [Int: [Int: [Output]]], in layers: [LayerFile],
                        _ body: (_ outputs: [Output], _ entry: TarEntry, _ reader: TarReader) throws -> Void) throws {
        for (index, layer) in layers.enumerated() {
            guard let wanted = plan[index], let last = wanted.keys.max() else { continue }
            var seen = -1
            try Self.forEachMember(of: [layer], verifying: false) { _, ordinal, entry, reader in
                seen = ordinal
                if let outputs = wanted[ordinal] { try body(outputs, entry, reader) }
                return ordinal < last
            }
            guard seen == last else {
                throw BaleError(.integrity, "layer \(layer.digest): fewer members on the second read than on the first")
            }
        }
    }
}

/// A layer blob read as a tar. A gzip layer (the common case) is inflated by ISA-L on a second thread
/// and parsed by libarchive on this one, so a flatten uses both cores; any other compression goes
/// through libarchive's own filters.
///
/// The blob's bytes are hashed as they are read (on the inflater's thread for gzip) and, when the layer
/// is read to its end, compared with its digest: the store's file may have been damaged since it was
/// verified on the way in, and `export` must not turn a damaged layer into a rootfs with exit 0.
/// `finish` throws the mismatch naming the layer. When the caller checks a gzip layer's DiffID
/// (`checksDiffID`), its inflated bytes are hashed instead of the compressed ones: content that hashes
/// to the DiffID the config names is exactly the layer, whatever happened to its compressed bytes. That
/// hash is shared between the two threads (`SharedHasher`): whichever would wait on the channel between
/// them hashes, so neither inflate plus SHA-256 on one thread nor a third thread sets the pace. A plain tar's DiffID is its digest. A stream opened without
/// a digest (the second, data pass of a tar export: the first pass checked) hashes nothing, and neither
/// does a read that stops early.
final class LayerTarStream {
    let reader: TarReader
    private let channel: ByteChannel?
    private let inflater: BackgroundTask<Digest?>?
    /// The hashing reader of a non-gzip layer (nil for gzip: the inflater hashes).
    private let digesting: DigestingSource?
    private let digest: Digest?
    /// Whether the layer is an uncompressed tar (its DiffID is its digest).
    private(set) var isPlain = false
    /// A gzip layer's DiffID, hashed on the inflater thread, once `finish` returned (nil unhashed).
    private(set) var diffID: Digest?
    /// For messages: "layer sha256:…".
    private let name: String

    /// Reads the layer at `path`, called `name` in messages; `digest`, when given, is what its bytes
    /// must hash to (for gzip, unless `checksDiffID`: then `diffID` is hashed for the caller to check).
    init(path: String, digest: Digest?, checksDiffID: Bool = false, name: String) throws {
        self.digest = digest
        self.name = name
        let compression = try LayerCompression.sniff(FileBlobReader(path: path))
        guard compression == .gzip else {
            isPlain = compression == .none
            channel = nil
            inflater = nil
            guard digest != nil else {
                // Unhashed: libarchive may skip data by seeking.
                reader = try TarReader(path: path)
                digesting = nil
                return
            }
            let digesting = DigestingSource(try FileBlobReader(path: path))
            self.digesting = digesting
            reader = try TarReader(source: digesting, name: name)
            return
        }
        digesting = nil
        // The DiffID is hashed by whichever thread would wait on the channel (see `SharedHasher`).
        let hasher = checksDiffID ? SharedHasher() : nil
        var hashWhileWaiting: (@Sendable () -> Bool)?
        if let hasher { hashWhileWaiting = { hasher.hashOne() } }
        let channel = ByteChannel(whileWaiting: hashWhileWaiting)
        inflater = BackgroundTask {
            do {
                let input = try FileBlobReader(path: path)
                defer { input.close() }
                let compressed = checksDiffID ? nil : digest.map { _ in DigestingSource(input) }
                // ISA-L inflates straight into blocks that libarchive then reads in place: no copies.
                let gunzip: GunzipSource = compressed.map { GunzipSource(source: $0) } ?? GunzipSource(source: input)
                var atEnd = false
                while !atEnd {
                    let block = ByteBlock(capacity: 1 << 20)
                    atEnd = try block.fill(from: { try gunzip.read(into: $0) })
                    try channel.send(block)
                    hasher?.add(block)
                }
                if let compressed, let digest {
                    try compressed.drain()
                    try Self.check(compressed.digest, against: digest)
                }
                channel.finish()
                return hasher?.finish()
            } catch {
                channel.fail(error)    // the reader names the layer and the member it was in
                throw error
            }
        }
        self.channel = channel
        reader = try TarReader(chunks: ChannelSource(channel: channel), name: name)
    }

    /// After the tar's end: reads the rest of the layer (the padding after the end blocks, the gzip
    /// trailer) and rethrows the inflater's error (a CRC-32 or size mismatch is only known there), then
    /// compares the blob's digest.
    func finish() throws {
        do {
            if let digesting, let digest {
                try digesting.drain()
                try Self.check(digesting.digest, against: digest)
            } else if let channel {
                while try !channel.nextChunk().isEmpty {}
                diffID = try inflater?.join() ?? nil
            }
        } catch let error as BaleError where !error.message.hasPrefix(name) {
            throw BaleError(error.code, "\(name): after the tar's end: \(error.message)", cause: error.cause)
        }
    }

    private static func check(_ actual: Digest, against digest: Digest) throws {
        guard actual == digest else {
            throw BaleError(.integrity, "layer \(digest): content does not match its digest (it hashes to \(actual)); run bale verify")
        }
    }

    /// Stops the inflater (whether or not the tar was read to the end) and waits for it.
    func close() {
        channel?.cancel()
        _ = try? inflater?.join()
    }

    deinit { close() }
}
