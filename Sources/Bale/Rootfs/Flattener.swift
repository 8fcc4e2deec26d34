import BaleCore
import BaleIO
import Foundation

/// A member of a layer that flattening or extraction refused, and why.
public struct RefusedMember: Sendable, Hashable, CustomStringConvertible {
    /// The layer blob's digest.
    public var layer: Digest
    /// The member name as stored in the layer.
    public var member: String
    /// Why it was refused.
    public var reason: String

    /// `layer sha256:…: member "x": reason`
    public var description: String { "layer \(layer): member \(Self.quoted(member)): \(reason)" }

    static func quoted(_ text: String) -> String {
        "\"" + text.unicodeScalars.map { s -> String in
            if s == "\"" || s == "\\" { return "\\" + String(s) }
            if s.value < 0x20 || s.value == 0x7f { return String(format: "\\x%02x", s.value) }
            return String(s)
        }.joined() + "\""
    }
}

/// One path of the flattened tree.
final class FlatNode {
    /// The header the path gets (its `path` is the cleaned root-relative path); `nil` for a directory
    /// implied by a deeper member and never given by a header.
    var entry: TarEntry?
    /// The layer (0 = bottom) and member ordinal the header, and the data, come from.
    var layer: Int
    var ordinal: Int
    /// Children by name (directories only).
    var children: [String: FlatNode] = [:]
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

    /// Children sorted by name (byte order of the UTF-8), for deterministic output.
    var sortedChildren: [(String, FlatNode)] {
        children.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }
}

/// The result of applying every layer of an image, bottom to top, to an empty tree (FORMATS §5):
/// opaque markers, whiteouts, directory merges and replacements applied; no `.wh.` names left.
///
/// Built from headers only (one pass over each layer); the data is read in a second pass in layer order
/// by `FlatTree.emit`, so nothing is buffered. Handed from one thread to another, never shared, hence
/// `@unchecked Sendable`.
public final class FlatTree: @unchecked Sendable {
    let root = FlatNode(entry: nil, layer: -1, ordinal: -1)
    /// The layer blobs, bottom first: digest and file path.
    let layers: [(digest: Digest, path: String)]
    /// Members refused while building the tree, in the order met.
    public private(set) var refused: [RefusedMember] = []

    /// Reads the headers of every layer (files in any compression TarReader detects) and builds the
    /// tree. Unsafe members are refused and recorded, not fatal; unreadable layers throw.
    public init(layers: [(digest: Digest, path: String)]) throws {
        self.layers = layers
        for (index, layer) in layers.enumerated() {
            let stream = try LayerTarStream(path: layer.path, name: "layer \(layer.digest)")
            defer { stream.close() }
            let reader = stream.reader
            var ordinal = -1
            while let entry = try reader.next() {
                ordinal += 1
                if let reason = apply(entry, layer: index, ordinal: ordinal) {
                    refused.append(RefusedMember(layer: layer.digest, member: entry.path, reason: reason))
                }
            }
        }
    }

    /// The node at a cleaned path, if present.
    func node(at path: String) -> FlatNode? {
        var node = root
        for component in path.split(separator: "/") {
            guard let child = node.children[String(component)] else { return nil }
            node = child
        }
        return node
    }

    /// Applies one header; returns why it was refused, or nil.
    private func apply(_ raw: TarEntry, layer: Int, ordinal: Int) -> String? {
        let path: String
        do {
            // moby strips a leading "/" from layer entries; ".." that climbs out is refused.
            path = try SafePath.clean(raw.path, allowAbsolute: true)
        } catch let error as BaleError {
            return error.message.replacingOccurrences(of: #"^member ".*": "#, with: "", options: .regularExpression)
        } catch {
            return "\(error)"
        }
        if path.isEmpty { return nil }    // the root itself: its attributes are the target's
        var components = path.split(separator: "/").map(String.init)
        let name = components.removeLast()

        if name.hasPrefix(".wh.") {
            if name == ".wh..wh..opq" {
                if let dir = existingDirectory(components) { pruneLower(dir, layer: layer) }
                return nil
            }
            if name.hasPrefix(".wh..wh.") { return nil }     // AUFS metadata (.wh..wh.plnk etc.)
            let target = String(name.dropFirst(4))
            if target.isEmpty { return "a bare \".wh.\" whiteout is invalid" }
            if let dir = existingDirectory(components), let child = dir.children[target] {
                if !pruneLower(child, layer: layer) { dir.children[target] = nil }
            }
            return nil
        }

        // Parents must be directories; a symlink parent would make the path resolve elsewhere.
        var node = root
        var missingFrom: Int?
        for (i, component) in components.enumerated() {
            guard let child = node.children[component] else { missingFrom = i; break }
            guard child.isDirectory else {
                let what = child.entry?.kind == .symlink ? "a symlink" : "not a directory"
                return "parent \"\(components[0...i].joined(separator: "/"))\" is \(what)"
            }
            node = child
        }
        var hardlinkTarget: FlatNode?
        if raw.kind == .hardlink {
            guard let text = raw.linkTarget, !text.isEmpty else { return "hardlink without a target" }
            let targetPath: String
            do {
                targetPath = try SafePath.clean(text, allowAbsolute: true)
            } catch {
                return "hardlink target \(RefusedMember.quoted(text)) is outside the root"
            }
            guard targetPath != path, let target = self.node(at: targetPath), !target.isDirectory else {
                return "hardlink target \(RefusedMember.quoted(text)) is not an earlier file of the image"
            }
            hardlinkTarget = target.linkTarget ?? target
        }
        if let start = missingFrom {
            for component in components[start...] {
                let implied = FlatNode(entry: nil, layer: layer, ordinal: -1)
                node.children[component] = implied
                node = implied
            }
        }
        var entry = raw
        entry.path = path
        if let existing = node.children[name], existing.isDirectory, entry.kind == .directory {
            existing.entry = entry       // directory onto directory: merge, take the new attributes
            existing.layer = layer
            existing.ordinal = ordinal
            return nil
        }
        let fresh = FlatNode(entry: entry, layer: layer, ordinal: ordinal)
        fresh.linkTarget = hardlinkTarget
        node.children[name] = fresh
        return nil
    }

    /// The directory node at `components`, when every component exists and is a directory.
    private func existingDirectory(_ components: [String]) -> FlatNode? {
        var node = root
        for component in components {
            guard let child = node.children[component], child.isDirectory else { return nil }
            node = child
        }
        return node
    }

    /// Drops everything below `node` that came from layers under `layer`; returns whether `node` itself
    /// stays (it is from `layer`, or a directory still holding something from `layer`).
    @discardableResult
    private func pruneLower(_ node: FlatNode, layer: Int) -> Bool {
        for (name, child) in node.children where !pruneLower(child, layer: layer) {
            node.children[name] = nil
        }
        return node.layer >= layer || (node.isDirectory && !node.children.isEmpty)
    }

    // MARK: - Emission

    /// What is written for one member of a layer in the data pass.
    enum Output {
        /// A member with the source member's data, at `header.path`.
        case data(TarEntry)
        /// A hard link at `path` to the earlier output `target`.
        case link(TarEntry, target: String)
    }

    /// Every directory in parents-first order, with its header (implied ones get 0755, root-owned).
    func directories() -> [TarEntry] {
        var out: [TarEntry] = []
        func walk(_ node: FlatNode, _ prefix: String) {
            for (name, child) in node.sortedChildren where child.isDirectory {
                let path = prefix.isEmpty ? name : prefix + "/" + name
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
            let targetPath: String
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

    /// The second pass: reads each layer that holds needed data, in layer order, and calls `body` for
    /// every planned member with the reader positioned at its data.
    func forEachPlanned(_ plan: [Int: [Int: [Output]]],
                        _ body: (_ outputs: [Output], _ entry: TarEntry, _ reader: TarReader) throws -> Void) throws {
        for (index, layer) in layers.enumerated() {
            guard let wanted = plan[index], let last = wanted.keys.max() else { continue }
            let stream = try LayerTarStream(path: layer.path, name: "layer \(layer.digest)")
            defer { stream.close() }
            let reader = stream.reader
            var ordinal = -1
            while ordinal < last, let entry = try reader.next() {
                ordinal += 1
                if let outputs = wanted[ordinal] { try body(outputs, entry, reader) }
            }
            guard ordinal == last else {
                throw BaleError(.integrity, "layer \(layer.digest): fewer members on the second read than on the first")
            }
        }
    }
}

/// A layer blob read as a tar. A gzip layer (the common case) is inflated by ISA-L on a second thread
/// and parsed by libarchive on this one, so the two passes of a flatten use both cores; any other
/// compression goes through libarchive's own filters.
final class LayerTarStream {
    let reader: TarReader
    private let channel: ByteChannel?
    private let inflater: BackgroundTask<Void>?

    init(path: String, name: String) throws {
        guard try Self.isGzip(path) else {
            reader = try TarReader(path: path)
            channel = nil
            inflater = nil
            return
        }
        let channel = ByteChannel()
        inflater = BackgroundTask {
            do {
                let input = try FileBlobReader(path: path)
                defer { input.close() }
                _ = try Gunzip().decompress(read: { try input.read(into: $0) }, write: { try channel.write($0) })
                channel.finish()
            } catch let error as BaleError {
                channel.fail(BaleError(error.code, "\(name): \(error.message)", cause: error.cause))
            } catch {
                channel.fail(error)
            }
        }
        self.channel = channel
        reader = try TarReader(source: ChannelSource(channel: channel), name: name)
    }

    /// Stops the inflater (whether or not the tar was read to the end) and waits for it.
    func close() {
        channel?.cancel()
        _ = try? inflater?.join()
    }

    deinit { close() }

    private static func isGzip(_ path: String) throws -> Bool {
        let reader = try FileBlobReader(path: path)
        return try LayerCompression.sniff(reader) == .gzip
    }
}
