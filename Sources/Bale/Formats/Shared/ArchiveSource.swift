import BaleCore
import BaleIO
import Foundation

/// A `docker save` tarball as a source, read in **one streaming pass** (a file or a pipe, any
/// whole-archive compression libarchive detects):
///
/// ```
/// member                                      during the pass               after EOF
/// manifest.json, index.json, oci-layout       kept in memory (capped)       decide the form, list images
/// *.json (configs), small JSON blobs/sha256/* kept in memory                configs, manifests, indexes
/// blobs/sha256/<hex>                          into the sink, checked        layers and documents
///                                             against <hex> while streaming
/// anything else (layer.tar, <diffid>.tar)     into the sink, hashed         layers by path
/// symlinks, hardlinks                         recorded                      resolved inside the archive
/// <v1id>/json, <v1id>/VERSION, repositories   skipped (docker ignores them when manifest.json exists)
/// ```
///
/// With `manifest.json`, each entry is an image: its config by path, its layers by path. When the archive
/// also holds an OCI layout (Docker 25+, containerd) and an index.json entry leads to a manifest with that
/// config, that manifest (or index) is the image, with its original bytes and digest. Otherwise an
/// OCI-typed manifest is synthesised canonically from the config and the layer bytes, so the same archive
/// always gives the same manifest digest. Without `manifest.json`, an OCI layout is read through its
/// index.json.
///
/// Member names and link targets are confined to the archive (SafePath); uncompressed layers are checked
/// against the config's diff_ids, as `docker load` does.
public final class ArchiveSource: StreamingImageSource, @unchecked Sendable {
    // Sendable: `staged` is set once, under `lock`, at the end of `stage`; afterwards it is only read.
    public let name: String
    private let input: Input
    private let reference: String?
    private let lock = NSLock()
    private var staged: Staged?
    private var referrerMap: ReferrerMap?

    private enum Input {
        case path(String)
        case fileDescriptor(Int32)
        /// A split archive (NAME.000 …, NAME.sha256): every part is checked against its sum before the
        /// first byte is read, then the parts are read as one stream.
        case parts(SplitArchive)
        /// A stream read once as it arrives (an engine's `GET /images/get` response).
        case stream(any ByteSource)
    }

    /// What the pass left behind: where blobs are, the documents in memory and the images.
    private struct Staged {
        let sink: any BlobSink
        let documents: [Digest: Data]
        let sinkBlobs: [Digest: Int64]
        let images: [SourceImage]
        let expected: [Digest: String]
    }

    /// In-memory documents beyond this total stay only in the sink (read back on demand), so a hostile
    /// archive of many JSON members cannot exhaust memory.
    static let documentBudget = 64 << 20

    /// Reads the archive at `path`. `reference` is `NAME[:TAG]` (the entry with that tag) or `@N` (the
    /// N-th manifest.json entry, 0-based); nil takes every image. A split archive is named by any of
    /// NAME.000, NAME.sha256, or NAME when only the parts exist (`SplitArchive.find`).
    public init(path: String, reference: String?, name: String? = nil) throws {
        let location = name ?? "docker-archive:\(path)"
        self.name = location
        do {
            self.input = try SplitArchive.find(path).map { Input.parts($0) } ?? Input.path(path)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(location): \(error.message)", cause: error.cause)
        }
        self.reference = reference
        try Self.checkSelector(reference, location: self.name)
    }

    /// Reads an open descriptor (stdin, a pipe) from its current position; it is not closed.
    public init(fileDescriptor: Int32, reference: String?, name: String) throws {
        self.name = name
        self.input = .fileDescriptor(fileDescriptor)
        self.reference = reference
        try Self.checkSelector(reference, location: name)
    }

    /// Reads `source` front to back, once (a response body): nothing is staged but the blobs put into
    /// the sink, exactly as for a pipe.
    public init(source: any ByteSource, reference: String?, name: String) throws {
        self.name = name
        self.input = .stream(source)
        self.reference = reference
        try Self.checkSelector(reference, location: name)
    }

    private static func checkSelector(_ reference: String?, location: String) throws {
        guard let reference else { return }
        if reference.hasPrefix("@") {
            guard let n = Int(reference.dropFirst()), n >= 0 else {
                throw BaleError(.usage, "\(location): \"\(reference)\" is not an image position (@0, @1, …)")
            }
        } else {
            _ = try Reference(parsing: reference)
        }
    }

    // MARK: ImageSource

    public func images() throws -> [SourceImage] { try state().images }

    /// What an incremental archive left out and expects its reader to hold: digest → the archive that
    /// carried it (empty for a whole archive).
    public func expectations() throws -> [Digest: String] { try state().expected }

    public func document(_ descriptor: Descriptor) throws -> Data {
        let s = try state()
        guard descriptor.size <= Int64(JSON.maxDocumentSize) else {
            throw BaleError(.invalidInput, "\(name): \(descriptor.digest): \(descriptor.size) bytes is over the \(JSON.maxDocumentSize)-byte limit for JSON documents")
        }
        let data: Data
        if let kept = s.documents[descriptor.digest] {
            data = kept
        } else if s.sinkBlobs[descriptor.digest] != nil {
            data = try Self.readAll(s.sink.open(descriptor.digest), limit: JSON.maxDocumentSize,
                                    what: "\(name): \(descriptor.digest)")
        } else {
            throw BaleError(.notFound, "\(name): \(descriptor.digest) is not in the archive")
        }
        try descriptor.verify(data, in: name)
        return data
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        let s = try state()
        if s.sinkBlobs[descriptor.digest] != nil { return try s.sink.open(descriptor.digest) }
        if let data = s.documents[descriptor.digest] { return DataReader(data) }
        throw BaleError(.notFound, "\(name): blob \(descriptor.digest) is not in the archive")
    }

    public func blobFile(_ descriptor: Descriptor) -> String? {
        guard let s = try? state(), s.sinkBlobs[descriptor.digest] != nil else { return nil }
        return s.sink.file(descriptor.digest)
    }

    public func close() {
        lock.withLock { staged = nil; referrerMap = nil }
    }

    private func state() throws -> Staged {
        guard let s = lock.withLock({ staged }) else {
            throw BaleError(.internal, "\(name): the archive was not staged before use")
        }
        return s
    }

    // MARK: The pass

    /// One regular member as it passed: the digest and size of its bytes, and their compression when
    /// the first bytes were seen (nil when the sink already had the blob and did not read it).
    struct Member {
        var digest: Digest
        var size: Int64
        var compression: LayerCompression?
    }

    /// A symlink (target relative to the link's directory) or a hardlink (target relative to the root).
    struct Link {
        var target: String
        var hard: Bool
    }

    /// Everything gathered during the pass.
    struct Scan {
        var members: [String: Member] = [:]
        var links: [String: Link] = [:]
        var documents: [Digest: Data] = [:]
        var documentBytes = 0
        var sinkBlobs: [Digest: Int64] = [:]
        var manifestJSON: Data?
        var indexJSON: Data?
        var ociLayout: Data?
        /// Blobs an incremental archive left out (already checked to be in the sink), each with the
        /// archive that carried it.
        var expected: [Digest: String] = [:]
        /// The member paths manifest.json names (configs, layers), once it has been read: what comes
        /// after it and is neither named nor a link's target is not written at all (an unreferenced
        /// member cannot make a load fill the disk). nil before it, or once an OCI layout is seen, whose
        /// index may need blobs manifest.json does not name.
        var named: Set<String>?
        /// Where the links seen so far lead.
        var linkTargets = Set<String>()
        /// The members passed over as unwanted, to say why a link that names one later leads nowhere.
        var skipped = Set<String>()
        /// DiffID and uncompressed size of the compressed members, learnt as they streamed by.
        var unpacked: [Digest: (diffID: Digest, size: Int64)] = [:]

        /// Whether a large member at `path` is to be kept (see `named`).
        func isWanted(_ path: String) -> Bool {
            guard let named else { return true }
            return named.contains(path) || linkTargets.contains(path)
        }
    }

    /// The digest a `blobs/sha256/<hex>` path names.
    static func blobDigest(_ path: String) -> Digest? {
        guard path.hasPrefix("blobs/sha256/") else { return nil }
        return try? Digest(sha256Hex: String(path.dropFirst("blobs/sha256/".count)))
    }

    public func stage(into sink: any BlobSink) throws {
        let tar: TarReader
        var ownedFD: Int32 = -1
        switch input {
        case .path(let path):
            ownedFD = open(path, O_RDONLY | O_CLOEXEC)
            guard ownedFD >= 0 else {
                let code = errno
                var error = BaleError.posix("open", path: path, errno: code)
                if code == ENOENT { error.code = .notFound }
                // The message names the path; the location is said once more only when it differs
                // (`docker-archive:PATH`, not `load -i PATH`).
                if name != path { error.message = "\(name): " + error.message }
                throw error
            }
            tar = try TarReader(fileDescriptor: ownedFD, name: name)
        case .fileDescriptor(let fd):
            tar = try TarReader(fileDescriptor: fd, name: name)
        case .parts(let parts):
            // The first pass, before anything is put into the sink: a missing or damaged part is named
            // while the destination is still untouched.
            do {
                try parts.check(jobs: ProcessInfo.processInfo.activeProcessorCount)
            } catch let error as BaleError {
                throw BaleError(error.code, "\(name): \(error.message)", cause: error.cause)
            }
            tar = try TarReader(source: parts.reader(), name: name)
        case .stream(let source):
            tar = try TarReader(source: source, name: name)
        }
        defer { if ownedFD >= 0 { Foundation.close(ownedFD) } }

        var scan = Scan()
        while let entry = try tar.next() {
            let cleaned: RawPath
            do {
                cleaned = try SafePath.clean(entry.path)
            } catch let error as BaleError {
                throw BaleError(error.code, "\(name): \(error.message)")
            }
            // The archive's JSON names members in UTF-8: a member whose name is not UTF-8 is none of them.
            guard !cleaned.isEmpty, let path = cleaned.string else { continue }
            switch entry.kind {
            case .file:
                try take(entry, path: path, from: tar, into: sink, scan: &scan)
            case .symlink, .hardlink:
                // A target that is not UTF-8 leads to no member the JSON can name: nothing to follow.
                guard let target = (entry.linkTarget ?? "").string else { continue }
                let link = Link(target: target, hard: entry.kind == .hardlink)
                scan.links[path] = link
                if let target = try? step(path, link) { scan.linkTargets.insert(target) }
            default:
                continue // directories, devices, fifos: docker's loader has no use for them
            }
        }
        let (images, documents) = try resolve(scan, sink: sink)
        try checkDiffIDs(images, documents: documents, sink: sink, scan: scan)
        var entries: [Descriptor] = []
        if scan.ociLayout != nil, let bytes = scan.indexJSON {
            entries = try JSON.decode(Index.self, from: bytes, what: "\(name): index.json").manifests
        }
        let indexEntries = entries
        lock.withLock {
            staged = Staged(sink: sink, documents: documents, sinkBlobs: scan.sinkBlobs, images: images,
                            expected: scan.expected)
            referrerMap = ReferrerMap(candidates: { LayoutIndex.referrerCandidates(indexEntries) },
                                      read: { [weak self] d in try? self?.document(d) })
        }
    }

    public func referrers(of digest: Digest) throws -> [Referrer] {
        guard let map = lock.withLock({ referrerMap }) else { return [] }
        return try map.referrers(of: digest)
    }

    /// Decides from its path what a regular member is, and keeps or streams it.
    private func take(_ entry: TarEntry, path: String, from tar: TarReader, into sink: any BlobSink,
                      scan: inout Scan) throws {
        let cap = JSON.maxDocumentSize
        let components = path.split(separator: "/")
        let base = components.last.map(String.init) ?? path

        // blobs/sha256/<hex>: content-addressed; checked against its name on the way in.
        if components.count == 3, components[0] == "blobs", components[1] == "sha256",
           let digest = try? Digest(sha256Hex: String(components[2])) {
            let expected = Descriptor(mediaType: "application/octet-stream", digest: digest, size: entry.size)
            if entry.size <= Int64(cap) {
                let data = try tar.readAll(limit: cap)
                let actual = SHA256Hasher.digest(data)
                guard actual == digest else {
                    throw BaleError(.integrity, "\(name): member \"\(path)\": content does not match the digest its name gives (it hashes to \(actual))")
                }
                try put(placed(DataReader(data), tar, size: entry.size), expected: expected, member: path, tar: nil,
                        sink: sink, scan: &scan)
                scan.members[path] = Member(digest: digest, size: entry.size,
                                            compression: LayerCompression.detect(Array(data.prefix(6))))
                if Self.looksLikeJSON(data), scan.documentBytes + data.count <= Self.documentBudget {
                    scan.documents[digest] = data
                    scan.documentBytes += data.count
                }
            } else {
                guard scan.isWanted(path) else { scan.skipped.insert(path); return }
                let reader = MemberReader(tar, unpacking: "\(name): member \"\(path)\"")
                try put(placed(reader, tar, size: entry.size), expected: expected, member: path, tar: reader,
                        sink: sink, scan: &scan)
                scan.members[path] = Member(digest: digest, size: entry.size, compression: reader.compression)
                if let unpacked = reader.unpacked() { scan.unpacked[digest] = unpacked }
            }
            return
        }

        // An incremental archive names, first, the blobs it left out: all must be in the sink already,
        // or the load fails here, before any blob is written.
        if components.count == 1, base == Incremental.memberName {
            let data = try tar.readAll(limit: cap)
            let expected = try JSON.decode(Incremental.Expectation.self, from: data, what: "\(name): \(base)").digests()
            let missing = expected.filter { !sink.contains($0.key, size: nil) }.sorted { $0.key < $1.key }
            guard missing.isEmpty else {
                let list = missing.map { "\($0.key) (carried by \($0.value))" }.joined(separator: ", ")
                throw BaleError(.notFound, "\(name): incremental archive: the destination lacks \(missing.count) blob(s) it builds on: \(list); load those archives first")
            }
            scan.expected = expected
            return
        }

        // The archive's own JSON: needed whole at the end.
        if components.count == 1, ["manifest.json", "index.json", "oci-layout"].contains(base) {
            guard entry.size <= Int64(cap) else {
                throw BaleError(.invalidInput, "\(name): \(base) is \(entry.size) bytes, over the \(cap)-byte limit for JSON documents")
            }
            let data = try tar.readAll(limit: cap)
            switch base {
            case "manifest.json":
                scan.manifestJSON = data
                if scan.indexJSON == nil && scan.ociLayout == nil,
                   let items = try? JSONDecoder().decode([ArchiveManifestItem].self, from: data) {
                    scan.named = Set(items.flatMap { [$0.config] + $0.layers }.compactMap { try? SafePath.clean($0) })
                }
            case "index.json":
                scan.indexJSON = data
                scan.named = nil
            default:
                scan.ociLayout = data
                scan.named = nil
            }
            return
        }

        // Legacy v1 metadata, ignored by docker whenever manifest.json exists (and it must).
        if path == "repositories" || (components.count > 1 && (base == "json" || base == "VERSION")) {
            return
        }

        // Configs (`<hex>.json`): small, kept in memory unless over the budget.
        if base.hasSuffix(".json"), entry.size <= Int64(cap) {
            let data = try tar.readAll(limit: cap)
            let digest = SHA256Hasher.digest(data)
            if scan.documentBytes + data.count <= Self.documentBudget {
                scan.documents[digest] = data
                scan.documentBytes += data.count
            } else {
                let expected = Descriptor(mediaType: "application/octet-stream", digest: digest, size: Int64(data.count))
                try put(placed(DataReader(data), tar, size: entry.size), expected: expected, member: path, tar: nil,
                        sink: sink, scan: &scan)
            }
            scan.members[path] = Member(digest: digest, size: Int64(data.count),
                                        compression: LayerCompression.detect(Array(data.prefix(6))))
            return
        }

        // Layers (`<v1id>/layer.tar`, `<diffid>.tar`) and anything else: hashed while streaming.
        guard scan.isWanted(path) else { scan.skipped.insert(path); return }
        let reader = MemberReader(tar, unpacking: "\(name): member \"\(path)\"")
        let (digest, size) = try put(placed(reader, tar, size: entry.size), expected: nil, member: path, tar: reader,
                                     sink: sink, scan: &scan)
        scan.members[path] = Member(digest: digest, size: size, compression: reader.compression)
        if let unpacked = reader.unpacked() { scan.unpacked[digest] = unpacked }
    }

    /// `reader`, said to lie at the member's data in the archive file when the archive is read from a path
    /// and is uncompressed: a sink that serves by offset (`bale serve`) keeps that place, checked against
    /// the bytes `reader` gives, instead of a copy. Other sinks just read `reader`.
    private func placed(_ reader: any BlobReader, _ tar: TarReader, size: Int64) -> any BlobReader {
        guard case .path(let path) = input, let offset = tar.dataOffset else { return reader }
        return PlacedReader(reader, region: FileRegion(path: path, offset: offset, length: size))
    }

    /// Puts a blob into the sink, turning its errors into ones that name the archive and the member. A
    /// read error of the archive itself (truncated, corrupt) is passed on as the reader gave it.
    @discardableResult
    private func put(_ reader: any BlobReader, expected: Descriptor?, member: String, tar: MemberReader?,
                     sink: any BlobSink, scan: inout Scan) throws -> (digest: Digest, size: Int64) {
        do {
            let result = try sink.put(reader, expected: expected)
            scan.sinkBlobs[result.digest] = result.size
            return result
        } catch {
            if let readError = tar?.error { throw readError }
            let bale = error as? BaleError
            throw BaleError(bale?.code ?? .io, "\(name): member \"\(member)\": \(bale?.message ?? "\(error)")",
                            cause: bale?.cause ?? (bale == nil ? error : nil))
        }
    }

    /// Whether a small blob is a JSON document (a manifest, index or config) rather than a tiny layer.
    static func looksLikeJSON(_ data: Data) -> Bool {
        guard let first = data.first(where: { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }),
              first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else { return false }
        return (try? JSONSerialization.jsonObject(with: data)) != nil
    }

    // MARK: After EOF

    /// The images, and the documents with the synthesised manifests added.
    private func resolve(_ scan: Scan, sink: any BlobSink) throws -> (images: [SourceImage], documents: [Digest: Data]) {
        var scan = scan
        // Every link is checked, used or not: an archive that points outside itself is refused.
        for (path, link) in scan.links { _ = try step(path, link) }

        if scan.manifestJSON == nil {
            if scan.ociLayout != nil, let indexBytes = scan.indexJSON {
                return (try layoutImages(indexBytes, scan: scan), scan.documents)
            }
            throw BaleError(.invalidInput, "\(name): invalid archive: does not contain a manifest.json")
        }
        let items = try manifestItems(scan.manifestJSON ?? Data())
        let byConfig = try indexedImages(scan)

        // Entries of one image merge through a map: a search per entry was quadratic in the entries.
        var images: [SourceImage] = []
        var position: [Descriptor: Int] = [:]
        var merged: [Set<Reference>?] = []
        for item in try select(items) {
            let (descriptor, itemNames) = try image(for: item, byConfig: byConfig, sink: sink, scan: &scan)
            if let i = position[descriptor] {
                merged[i] = (merged[i] ?? Set(images[i].names)).union(itemNames)
            } else {
                position[descriptor] = images.count
                images.append(SourceImage(descriptor: descriptor, names: itemNames))
                merged.append(nil)
            }
        }
        for (i, names) in merged.enumerated() { if let names { images[i].names = names.sorted() } }
        return (images, scan.documents)
    }

    private func manifestItems(_ bytes: Data) throws -> [ArchiveManifestItem] {
        let decoded = try JSON.decode([ArchiveManifestItem]?.self, from: bytes, what: "\(name): manifest.json")
        guard let items = decoded else {
            throw BaleError(.invalidInput, "\(name): manifest.json is null, expected a list of images")
        }
        return items
    }

    /// The manifest.json entries the location's selector picks (all when there is none).
    private func select(_ items: [ArchiveManifestItem]) throws -> [(ArchiveManifestItem, [Reference]?)] {
        guard let reference else { return items.map { ($0, nil) } }
        if reference.hasPrefix("@") {
            let n = Int(reference.dropFirst()) ?? -1
            guard items.indices.contains(n) else {
                throw BaleError(.notFound, "\(name): no image at position \(n) (the archive holds \(items.count))")
            }
            return [(items[n], nil)]
        }
        let wanted = try Reference(parsing: reference).withDefaultTag()
        for item in items where try tags(of: item).contains(wanted) {
            return [(item, [wanted])]
        }
        throw BaleError(.notFound, "\(name): no image tagged \"\(reference)\"")
    }

    private func tags(of item: ArchiveManifestItem) throws -> [Reference] {
        try (item.repoTags ?? []).map { tag in
            let reference: Reference
            do {
                reference = try Reference(parsing: tag)
            } catch let error as BaleError {
                throw BaleError(.invalidInput, "\(name): manifest.json: RepoTags entry \"\(tag)\": \(error.message)")
            }
            // A name is stored as given and removed by it; a digest in it would make a name that no
            // command can list or remove. docker load refuses it too ("invalid tag").
            guard reference.digest == nil else {
                throw BaleError(.invalidInput, "\(name): manifest.json: RepoTags entry \"\(tag)\" carries a digest; a tag is NAME[:TAG]")
            }
            return reference.withDefaultTag()
        }
    }

    /// One manifest.json entry as an image: its descriptor (the archive's own manifest or index when the
    /// OCI layout has one with this config, else a synthesised one) and its names.
    private func image(for selection: (ArchiveManifestItem, [Reference]?), byConfig: [Digest: Descriptor],
                       sink: any BlobSink, scan: inout Scan) throws -> (Descriptor, [Reference]) {
        let (item, chosenNames) = selection
        let names = try chosenNames ?? tags(of: item)
        let config = try member(item.config, what: "config", scan: scan)
        let configBytes = try bytes(of: config, path: item.config, sink: sink, scan: scan)
        let imageConfig = try JSON.decode(ImageConfig.self, from: configBytes, what: "\(name): config \(item.config)")
        let diffIDs = imageConfig.rootfs.diffIDs
        guard item.layers.count == diffIDs.count else {
            throw BaleError(.invalidInput, "\(name): image \(config.digest): invalid manifest, layers length mismatch (manifest.json lists \(item.layers.count) layers, the config \(diffIDs.count) diff_ids)")
        }
        var layers: [Descriptor] = []
        for (i, path) in item.layers.enumerated() {
            if let foreign = item.layerSources?[diffIDs[i].string], (try? member(path, what: "", scan: scan)) == nil {
                layers.append(foreign) // a foreign layer the archive does not carry
                continue
            }
            if let left = Self.blobDigest(path), scan.expected[left] != nil, byConfig[config.digest] != nil {
                continue // left out of an incremental archive; the archive's own manifest describes it
            }
            let layer = try member(path, what: "layer \(i)", scan: scan)
            let compression = try layer.compression ?? LayerCompression.sniff(sink.open(layer.digest))
            if compression == .none && layer.digest != diffIDs[i] {
                throw BaleError(.integrity, "\(name): image \(config.digest): invalid diffID for layer \(i) (\(path)): the config gives \(diffIDs[i]), its bytes hash to \(layer.digest)")
            }
            let type: MediaType
            switch compression {
            case .gzip: type = .ociLayerGzip
            case .zstd: type = .ociLayerZstd
            case .none: type = .ociLayer
            case .other: type = .dockerLayer // xz/bzip2 layer files: no OCI label; docker sniffs them
            }
            layers.append(Descriptor(mediaType: type, digest: layer.digest, size: layer.size))
        }
        if let real = byConfig[config.digest] { return (real, names) }

        // The synthesised manifest is OCI-typed, so the store stays readable by skopeo, umoci and
        // oci-image-tool (which accept only OCI types in a layout); the config bytes, and so the image
        // ID, are the archive's. Only a layer OCI cannot label (xz, bzip2) makes it Docker-typed.
        let docker = layers.contains { $0.mediaType == .dockerLayer }
        let manifest = Manifest(mediaType: docker ? .dockerManifest : .ociManifest,
                                config: Descriptor(mediaType: docker ? .dockerConfig : .ociConfig,
                                                   digest: config.digest, size: Int64(configBytes.count)),
                                layers: layers)
        let bytes = try JSON.canonical(manifest)
        let digest = SHA256Hasher.digest(bytes)
        scan.documents[digest] = bytes
        scan.documents[config.digest] = configBytes
        return (Descriptor(mediaType: manifest.mediaType ?? .ociManifest, digest: digest, size: Int64(bytes.count)), names)
    }

    /// With an OCI layout in the archive (Docker 25+, containerd): config digest → the index.json entry
    /// (a manifest, or an index with a present manifest) that carries that config.
    private func indexedImages(_ scan: Scan) throws -> [Digest: Descriptor] {
        guard scan.ociLayout != nil, let indexBytes = scan.indexJSON else { return [:] }
        let index = try JSON.decode(Index.self, from: indexBytes, what: "\(name): index.json")
        var result: [Digest: Descriptor] = [:]
        for entry in index.manifests where !Index.isAttestation(entry) {
            guard let bytes = scan.documents[entry.digest], Int64(bytes.count) == entry.size else { continue }
            let top = LayoutIndex.bare(entry)
            for config in configs(of: entry, scan: scan) where result[config] == nil {
                result[config] = top
            }
        }
        return result
    }

    /// The config digests a manifest, or the present manifests of an index, carry.
    private func configs(of descriptor: Descriptor, scan: Scan) -> [Digest] {
        var configs: [Digest] = []
        try? ImageGraph.walk([descriptor], read: { scan.documents[$0.digest] }) { _, node in
            if case .manifest(let manifest) = node { configs.append(manifest.config.digest) }
            return true
        }
        return configs
    }

    /// An OCI layout without manifest.json: the images its index.json lists.
    private func layoutImages(_ indexBytes: Data, scan: Scan) throws -> [SourceImage] {
        struct Layout: Decodable { let imageLayoutVersion: String }
        let layout = try JSON.decode(Layout.self, from: scan.ociLayout ?? Data(), what: "\(name): oci-layout")
        guard layout.imageLayoutVersion == "1.0.0" else {
            throw BaleError(.unsupported, "\(name): oci-layout: image layout version \(layout.imageLayoutVersion), expected 1.0.0")
        }
        let index = try JSON.decode(Index.self, from: indexBytes, what: "\(name): index.json")
        let images = try LayoutIndex.select(index.manifests, reference: reference, location: name)
        return reference == nil ? LayoutIndex.withoutReferrers(images, read: { scan.documents[$0.digest] }) : images
    }
    /// Compares every layer's uncompressed content with its config's `rootfs.diff_ids`, as `docker
    /// load` does, whatever the layer's compression and whichever form the archive has (manifest.json
    /// or an OCI layout): a compressed layer whose content is not what the config says is refused
    /// before anything is committed. Each layer is decompressed once (its uncompressed size is told to
    /// the sink); an uncompressed layer's digest is its DiffID. Layers the archive does not carry
    /// (foreign layers, platforms left out) are skipped.
    private func checkDiffIDs(_ images: [SourceImage], documents: [Digest: Data], sink: any BlobSink,
                              scan: Scan) throws {
        func read(_ d: Descriptor) throws -> Data? {
            if let data = documents[d.digest] { return data }
            guard scan.sinkBlobs[d.digest] != nil, d.size <= Int64(JSON.maxDocumentSize) else { return nil }
            return try Self.readAll(sink.open(d.digest), limit: JSON.maxDocumentSize, what: "\(name): \(d.digest)")
        }
        var diffIDs: [Digest: Digest] = [:]
        var passedCompression: [Digest: LayerCompression] = [:]
        for member in scan.members.values { passedCompression[member.digest] = member.compression }
        func walkManifests() throws { try ImageGraph.walk(images.map(\.descriptor), read: read) { _, node in
            guard case .manifest(let manifest) = node else { return true }
            guard let configBytes = try read(manifest.config) else { return false }
            let config = try JSON.decode(ImageConfig.self, from: configBytes, what: "\(name): config \(manifest.config.digest)")
            guard config.rootfs.diffIDs.count == manifest.layers.count else {
                throw BaleError(.invalidInput, "\(name): image \(manifest.config.digest): the manifest lists \(manifest.layers.count) layers, the config \(config.rootfs.diffIDs.count) diff_ids")
            }
            for (i, (layer, expected)) in zip(manifest.layers, config.rootfs.diffIDs).enumerated() {
                // A sink may keep no file of a blob: `bale serve`'s keeps only its place in the archive
                // (read through `open`); verify --archive's hashes large blobs and drops them, and then
                // what the pass learnt (the tee's DiffID, or that it was not compressed) serves.
                let file = sink.file(layer.digest)
                guard file != nil || scan.sinkBlobs[layer.digest] != nil else { continue }
                let actual: Digest
                if let known = diffIDs[layer.digest] {
                    actual = known
                } else if let unpacked = scan.unpacked[layer.digest] {
                    actual = unpacked.diffID
                    sink.recordUnpackedSize(unpacked.size, of: layer.digest)
                    diffIDs[layer.digest] = actual
                } else if file != nil || Self.canOpen(sink, layer.digest) {
                    do {
                        if try LayerCompression.sniff(sink.open(layer.digest)) == .none {
                            actual = layer.digest
                            sink.recordUnpackedSize(layer.size, of: layer.digest)
                        } else {
                            let unpacked = try file.map { try LayerDigest.unpacked(file: $0) }
                                ?? LayerDigest.unpacked(source: sink.open(layer.digest), name: "\(name): \(layer.digest)")
                            actual = unpacked.diffID
                            sink.recordUnpackedSize(unpacked.size, of: layer.digest)
                        }
                    } catch let error as BaleError {
                        throw BaleError(.invalidInput, "\(name): image \(manifest.config.digest): layer \(i) (\(layer.digest)) cannot be decompressed: \(error.message)")
                    }
                    diffIDs[layer.digest] = actual
                } else {
                    // No file and no DiffID from the tee: an uncompressed layer is its own DiffID; a
                    // compressed one whose tee learnt nothing did not decompress.
                    guard passedCompression[layer.digest] == LayerCompression.none else {
                        throw BaleError(.invalidInput, "\(name): image \(manifest.config.digest): layer \(i) (\(layer.digest)) cannot be decompressed")
                    }
                    actual = layer.digest
                    diffIDs[layer.digest] = actual
                }
                guard actual == expected else {
                    throw BaleError(.integrity, "\(name): image \(manifest.config.digest): invalid diffID for layer \(i) (\(layer.digest)): the config gives \(expected), its uncompressed content hashes to \(actual)")
                }
            }
            return false
        } }
        do {
            try walkManifests()
        } catch let error as BaleError where !error.message.hasPrefix(name) {
            throw BaleError(error.code, "\(name): \(error.message)", cause: error.cause)
        }
    }

    /// Whether the sink can give a blob's bytes back (one it dropped after hashing cannot).
    private static func canOpen(_ sink: any BlobSink, _ digest: Digest) -> Bool {
        guard let reader = try? sink.open(digest) else { return false }
        reader.close()
        return true
    }

    // MARK: Paths inside the archive

    /// The member a manifest.json path names, through any links. `what` names its role in the error.
    private func member(_ rawPath: String, what: String, scan: Scan) throws -> Member {
        var path: String
        do {
            path = try SafePath.clean(rawPath)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(name): manifest.json: \(what) path: \(error.message)")
        }
        var hops = 0
        while let link = scan.links[path] {
            hops += 1
            guard hops <= 32 else {
                throw BaleError(.invalidInput, "\(name): member \"\(rawPath)\": too many levels of links")
            }
            path = try step(path, link)
        }
        guard let found = scan.members[path] else {
            if scan.skipped.contains(path) {
                // A stream cannot go back: a link that comes after manifest.json, to a member before it
                // that it does not name, finds that member passed over (docker save puts manifest.json last).
                throw BaleError(.invalidInput, "\(name): manifest.json names \"\(rawPath)\" (\(what)), a link to member \"\(path)\", which came after manifest.json without being named there and was passed over; an archive with manifest.json last (as docker save writes it) loads")
            }
            throw BaleError(.notFound, "\(name): manifest.json names \"\(rawPath)\" (\(what)), which the archive does not contain")
        }
        return found
    }

    /// Where one link leads, confined to the archive.
    private func step(_ path: String, _ link: Link) throws -> String {
        do {
            if link.hard {
                do {
                    return try SafePath.clean(link.target)
                } catch let error as BaleError {
                    throw BaleError(error.code, "member \"\(path)\": hardlink target: \(error.message)")
                }
            }
            return try SafePath.resolveInArchive(linkTarget: link.target, from: path)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(name): \(error.message)")
        }
    }

    /// A small member's bytes, from memory or from the sink.
    private func bytes(of member: Member, path: String, sink: any BlobSink, scan: Scan) throws -> Data {
        if let data = scan.documents[member.digest] { return data }
        guard member.size <= Int64(JSON.maxDocumentSize), scan.sinkBlobs[member.digest] != nil else {
            throw BaleError(.invalidInput, "\(name): \(path) is \(member.size) bytes, over the \(JSON.maxDocumentSize)-byte limit for JSON documents")
        }
        return try Self.readAll(sink.open(member.digest), limit: JSON.maxDocumentSize, what: "\(name): \(path)")
    }

    static func readAll(_ reader: any BlobReader, limit: Int, what: String) throws -> Data {
        defer { reader.close() }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { return data }
            guard data.count + n <= limit else {
                throw BaleError(.invalidInput, "\(what): over the \(limit)-byte limit for JSON documents")
            }
            data.append(contentsOf: buffer[0 ..< n])
        }
    }
}

/// The current tar member's data as a `BlobReader`, keeping its first bytes (to tell its compression)
/// and the archive's own read error (so a truncated archive is reported as such, not as a bad blob).
/// A compressed member's DiffID is computed in the same pass: its bytes also go to an `UnpackingTee`.
private final class MemberReader: BlobReader {
    private let tar: TarReader
    private var head: [UInt8] = []
    private var sawEnd = false
    private(set) var error: (any Error)?
    /// Names the member in the tee's messages; nil: no tee.
    private let unpacking: String?
    private var tee: UnpackingTee?

    init(_ tar: TarReader, unpacking: String? = nil) {
        self.tar = tar
        self.unpacking = unpacking
    }

    /// The member's DiffID and uncompressed size, when it was compressed, read to its end, and
    /// decompressed cleanly (else the check decompresses the stored blob, and reports its error).
    func unpacked() -> (diffID: Digest, size: Int64)? {
        guard sawEnd else { return nil }
        defer { tee = nil }
        return tee?.finish()
    }

    /// The compression the first bytes show; nil when nothing was read (the sink had the blob).
    var compression: LayerCompression? {
        head.isEmpty && !sawEnd ? nil : LayerCompression.detect(head)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do {
            let n = try tar.read(into: buffer)
            if n == 0 { sawEnd = true }
            if head.count < 6, n > 0 {
                let first = head.isEmpty
                head += UnsafeRawBufferPointer(rebasing: buffer[0 ..< min(n, 6 - head.count)])
                if first, let unpacking, n >= 6, LayerCompression.detect(head) != .none {
                    tee = UnpackingTee(name: unpacking)
                }
            }
            if n > 0 { tee?.write(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n])) }
            return n
        } catch {
            self.error = error
            throw error
        }
    }

    func close() {}
}

/// Decompresses and hashes a copy of a compressed member on a second thread while the member streams
/// into the sink, so a load learns each layer's DiffID without reading the layer again. It never
/// stops the copy: when the bytes do not decompress, `finish` gives nil and the check that follows
/// decompresses the stored blob and reports what is wrong. The inflater sets the pace; the DiffID's
/// SHA-256 is done by whichever side would wait on the channel between them (`SharedHasher`), mostly
/// the writer, which has the lighter load.
private final class UnpackingTee {
    private let channel: ByteChannel
    private let task: BackgroundTask<(diffID: Digest, size: Int64)>
    private var broken = false

    init(name: String) {
        let hasher = SharedHasher()
        let channel = ByteChannel(whileWaiting: { hasher.hashOne() })
        self.channel = channel
        task = BackgroundTask {
            do {
                let source = try DecompressingSource(source: ChannelSource(channel: channel), name: name)
                var size: Int64 = 0
                var atEnd = false
                while !atEnd {
                    let block = ByteBlock(capacity: 1 << 20)
                    atEnd = try block.fill { try source.read(into: $0) }
                    size += Int64(block.count)
                    if block.count > 0 { hasher.add(block) }
                }
                // Whatever follows the compressed stream is read too, so the writer never waits.
                while try !channel.nextChunk().isEmpty {}
                return (hasher.finish(), size)
            } catch {
                channel.cancel()
                throw error
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard !broken else { return }
        do { try channel.write(bytes) } catch { broken = true }
    }

    /// Ends the input and waits for the result.
    func finish() -> (diffID: Digest, size: Int64)? {
        channel.finish()
        return broken ? nil : try? task.join()
    }

    deinit {
        // fail, not cancel: a cancelled channel still makes its reader wait for data.
        channel.fail(BaleError(.interrupted, "the member was not read to its end"))
        _ = try? task.join()
    }
}
