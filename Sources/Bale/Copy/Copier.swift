import BaleCore
import BaleIO
import Foundation

/// Options of one copy.
public struct CopyOptions: Sendable {
    /// Blobs copied at once.
    public var jobs: Int
    /// The platform to keep from an index, unless `allPlatforms`. nil: what the source holds when it
    /// is the image itself (the store keeps a whole index, so a backup keeps every platform), else the
    /// host's, as `docker pull` does.
    public var platform: Platform?
    /// Keep every platform of an index (each must be present in the source).
    public var allPlatforms: Bool
    /// Layer blobs to leave out, each with the archive that carries them (`save --since`). The
    /// destination records them as expected of the loader.
    public var omit: [Digest: String] = [:]
    /// Told of blob bytes as they are copied (from several threads).
    public var progress: (@Sendable (Int64) -> Void)?
    /// Told of each layer blob's bytes as they are copied, after its `.started` event (from several
    /// threads): per-blob progress lines.
    public var blobProgress: (@Sendable (Descriptor, Int64) -> Void)?
    /// What the copied images are called at the destination.
    public var names: Naming = .keep
    /// Where a streaming source is staged when the destination cannot hold its blobs.
    public var temporaryDirectory: String = NSTemporaryDirectory()
    /// Told what happens to each layer blob (from several threads): docker's per-layer lines.
    public var onBlob: (@Sendable (BlobEvent) -> Void)?
    /// Bring what refers to the copied images along (`--no-referrers` clears it): see `Copier+Referrers`.
    public var referrers = true
    /// The other copies running at the same time into the same location, if any: they share the
    /// blob budget (`jobs` is then that budget), fetch a blob they all lack once, and commit one at a
    /// time.
    public var concurrent: ConcurrentCopies?

    /// Names of the copied images at the destination.
    public enum Naming: Sendable {
        /// The names the source gives them.
        case keep
        /// None (`save --no-tags`).
        case none
        /// This one name; the source must select exactly one image.
        case only(Reference)
    }

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, platform: Platform? = nil,
                allPlatforms: Bool = false) {
        self.jobs = max(1, jobs)
        self.platform = platform
        self.allPlatforms = allPlatforms
    }
}

/// What happened to one layer blob of a copy.
public enum BlobEvent: Sendable {
    /// The destination holds it already; `mountedFrom` names where a registry mounted it from just now.
    case held(Descriptor, mountedFrom: String?)
    /// Its bytes start to move (again, when a destination lost them part-way and they are sent anew).
    case started(Descriptor)
    /// Its bytes are in the destination, verified.
    case copied(Descriptor)
}

/// A copy of several images in which some could not be copied: the others were, and are committed.
/// Each failure names its image, in one line (`bale` prints one `Error:` line each).
public struct ImagesNotCopied: Error, CustomStringConvertible {
    /// One error per image left out, in the source's order.
    public let failures: [BaleError]
    /// What was copied.
    public let report: CopyReport
    public var description: String { failures.map(\.description).joined(separator: "\n") }
}

/// What a copy did.
public struct CopyReport: Sendable {
    /// The images as written (descriptors changed only where a conversion rewrote them).
    public var images: [SourceImage] = []
    public var blobsWritten = 0
    public var blobsSkipped = 0
    public var bytesWritten: Int64 = 0
    /// Manifests rewritten for the destination (Docker → OCI types): old digest → new digest.
    public var converted: [Digest: Digest] = [:]
    /// Members a flattening destination refused as unsafe (skipped; the copy still completes).
    public var refused: [RefusedMember] = []
    /// What the source and destination noticed, for the user.
    public var warnings: [String] = []
    /// The referrers copied along with the images.
    public var referrers: [Referrer] = []
    /// The images of a several-image copy that could not be copied, one error each (see `Copier`).
    var failures: [BaleError] = []
}

/// The one copy engine: plans each image's graph (platform filter, dedup by digest, deterministic
/// order), copies the blobs the destination lacks (concurrently when it allows), converts manifests only
/// when the destination asks, puts documents children first, records the images, and commits. Any error
/// aborts the destination, which is then as it was. It names no concrete format.
///
/// When the source selects several images and its images fail alone (`ImageSource.imagesFailAlone`:
/// docker-root), one that cannot be read (its documents, or one of its layers) does not stop the others: they are copied and committed, and then the copy throws
/// `ImagesNotCopied`, one error per image left out. A left-out image is never recorded at the destination
/// (at most some of its layers are there, unreferenced, as after an interrupted copy).
public struct Copier: Sendable {
    public let options: CopyOptions

    public init(options: CopyOptions = CopyOptions()) {
        self.options = options
    }

    /// The one way images move. Stages a streaming source (into the destination itself when it can take
    /// blobs it may not keep, else into a temporary directory), names the images as `options.names`
    /// says, plans and copies, and commits. The source is closed, and the destination committed or
    /// aborted (left as it was), whatever happens.
    public func copy(from source: any ImageSource, to destination: any ImageDestination) throws -> CopyReport {
        defer { source.close() }
        let member = options.concurrent?.join()
        defer { member.map { $0.group.leave($0) } }
        do {
            let staging = try stage(source, for: destination)
            var images = try source.images()
            switch options.names {
            case .keep: break
            case .none: images = images.map { SourceImage(descriptor: $0.descriptor, names: []) }
            case .only(let name):
                guard images.count == 1 else {
                    // Which ones, so the user can pick: a REF may name several (`1` for both `app:1` and
                    // `tools:1` in a `docker save`'s OCI index, whose ref.name is the tag alone).
                    let which = images.prefix(5).map { $0.names.first?.familiar ?? $0.descriptor.digest.string }
                        + (images.count > 5 ? ["…"] : [])
                    throw BaleError(.usage, "\(source.name) holds \(images.count) images (\(which.joined(separator: ", "))); a destination name fits only one: select one in the source location by its full name or position (@0, @1, …)")
                }
                images[0].names = [name]
            }
            var report = try (destination as? any FlatteningDestination).map { try flatten(images, source, $0) }
                ?? run(source, destination, images, member: member)
            // Some images left out: none copied, nothing to commit; else the others are committed first.
            let failed = report.failures.isEmpty ? nil : ImagesNotCopied(failures: report.failures, report: report)
            if report.images.isEmpty, let failed { throw failed }
            try finishing(member) { try destination.commit() }
            report.warnings = source.warnings + report.warnings
            withExtendedLifetime(staging) {}
            if let failed { throw failed }   // the others are in
            return report
        } catch {
            finishing(member) { destination.abort() }
            throw error
        }
    }

    private func finishing<T>(_ member: ConcurrentCopies.Member?, _ body: () throws -> T) rethrows -> T {
        guard let member else { return try body() }
        return try member.group.finishing(body)
    }

    /// Reads a streaming source through once, putting its blobs into `destination` when that is a sink,
    /// else into a temporary directory, which lives as long as the returned value.
    private func stage(_ source: any ImageSource, for destination: any ImageDestination) throws -> TemporaryBlobSink? {
        guard let streaming = source as? any StreamingImageSource else { return nil }
        func counted(_ sink: any BlobSink) -> any BlobSink {
            options.progress.map { CountingSink(sink, $0) } ?? sink
        }
        if let sink = destination as? any BlobSink {
            try streaming.stage(into: counted(sink))
            return nil
        }
        let temp = try TemporaryBlobSink(parent: options.temporaryDirectory)
        try streaming.stage(into: counted(temp))
        return temp
    }

    // MARK: Flattening

    /// Hands a flattening destination the layers of the one image selected, as files: the source's own
    /// where it keeps them (the store, a layout: no copy), else staged in a temporary directory.
    private func flatten(_ images: [SourceImage], _ source: any ImageSource,
                         _ destination: any FlatteningDestination) throws -> CopyReport {
        guard images.count == 1 else {
            throw BaleError(.usage, "\(source.name) holds \(images.count) images; \(destination.name) takes one (select one in the source location)")
        }
        let (manifestDescriptor, manifest) = try ImageGraph.manifest(of: images[0].descriptor,
                                                                     platform: options.platform ?? .host, source: source)
        var staging: TemporaryBlobSink?
        var report = CopyReport()
        let files = try manifest.layers.map { layer -> (digest: Digest, path: String) in
            if let file = source.blobFile(layer) { return (layer.digest, file) }
            let temp = try staging ?? TemporaryBlobSink(parent: options.temporaryDirectory)
            staging = temp
            if !temp.contains(layer.digest, size: layer.size) {
                let reader = try source.openBlob(layer)
                defer { reader.close() }
                let (_, size) = try temp.put(reader, expected: layer)
                report.bytesWritten += size
            }
            guard let file = temp.file(layer.digest) else {
                throw BaleError(.internal, "layer \(layer.digest) staged but not found")
            }
            return (layer.digest, file)
        }
        let config = try JSON.decode(ImageConfig.self, from: source.document(manifest.config),
                                     what: "config \(manifest.config.digest) in \(source.name)")
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            throw BaleError(.invalidInput, "\(source.name): image \(manifest.config.digest): the manifest lists \(manifest.layers.count) layers, the config \(config.rootfs.diffIDs.count) diff_ids")
        }
        let diffIDs = Dictionary(zip(manifest.layers.map(\.digest), config.rootfs.diffIDs)) { first, _ in first }
        (report.refused, report.warnings) = try destination.flatten(layers: files, diffIDs: diffIDs)
        withExtendedLifetime(staging) {}
        report.images = [SourceImage(descriptor: manifestDescriptor, names: images[0].names)]
        return report
    }

    // MARK: Planning

    /// One document to write, with its bytes (possibly converted).
    struct Document {
        var descriptor: Descriptor
        var bytes: Data
    }

    struct Plan {
        var blobs: [Descriptor] = []            // layers, in first-seen order, unique
        var documents: [Document] = []          // configs, manifests, indexes: children before parents
        var seen = Set<Digest>()
        var roots: [SourceImage] = []
        var converted: [Digest: Digest] = [:]
        var referrers: [PlannedReferrer] = []   // after the images' documents, as they were found
        /// Every blob and document the image being walked uses (shared ones included), so that an
        /// image whose layer fails can be left out with only what it alone needed.
        var uses = Set<Digest>()
        /// `uses` of each root, in `roots` order.
        var rootUses: [Set<Digest>] = []
        /// How long `blobs` and `documents` were before the image being walked, to drop its part of
        /// the plan when it fails (the walk only appends).
        var mark = (blobs: 0, documents: 0)
    }

    private func run(_ source: any ImageSource, _ destination: any ImageDestination,
                     _ selected: [SourceImage], member: ConcurrentCopies.Member?) throws -> CopyReport {
        // Several images from a source whose images stand alone (a rescue): each one that fails is
        // left out and named, the others go on. Elsewhere a copy is whole or nothing.
        let isolate = selected.count > 1 && source.imagesFailAlone
        var report = CopyReport()
        var plan = Plan()
        for image in selected {
            plan.mark = (plan.blobs.count, plan.documents.count)
            plan.uses = []
            do {
                let root = try walk(image.descriptor, source: source, destination: destination, plan: &plan, depth: 0)
                plan.roots.append(SourceImage(descriptor: root, names: image.names))
                plan.rootUses.append(plan.uses)
            } catch let error as BaleError where isolate && Self.isImageFault(error) {
                let dropped = plan.blobs[plan.mark.blobs...].map(\.digest) + plan.documents[plan.mark.documents...].map(\.descriptor.digest)
                plan.blobs.removeSubrange(plan.mark.blobs...)
                plan.documents.removeSubrange(plan.mark.documents...)
                plan.seen.subtract(dropped)
                report.failures.append(Self.failure(error, image: image, source: source))
            }
        }
        if options.referrers { report.warnings = try planReferrers(source, destination, plan: &plan) }
        report.converted = plan.converted
        let omitted = plan.blobs.filter { options.omit[$0.digest] != nil }
        if !omitted.isEmpty {
            try destination.expect(Dictionary(uniqueKeysWithValues: omitted.map { ($0.digest, options.omit[$0.digest]!) }))
        }
        let wanted = plan.blobs.filter { options.omit[$0.digest] == nil }
        let held = wanted.map { destination.contains($0.digest, size: $0.size) }
        func noteHeld(_ blob: Descriptor) {
            options.onBlob?(.held(blob, mountedFrom: destination.origin(of: blob.digest)))
        }
        var failed: [Digest: BaleError] = [:]
        if let member {
            let (own, borrowed, kept) = member.group.claim(wanted, held: held, by: member)
            kept.forEach(noteHeld)
            failed = try copyBlobs(own, source: source, destination: destination, member: member, isolate: isolate, report: &report)
            // What other copies brought: asked again once they are done, copied if still missing.
            member.group.wait(for: Set(borrowed.map(\.1)))
            var missing: [Descriptor] = []
            for (blob, _) in borrowed {
                if destination.contains(blob.digest, size: blob.size) { noteHeld(blob) } else { missing.append(blob) }
            }
            var more = CopyReport()
            failed.merge(try copyBlobs(missing, source: source, destination: destination, member: member, isolate: isolate, report: &more)) { first, _ in first }
            report.blobsWritten += more.blobsWritten
            report.bytesWritten += more.bytesWritten
        } else {
            var missing: [Descriptor] = []
            for (blob, isHeld) in zip(wanted, held) {
                if isHeld { noteHeld(blob) } else { missing.append(blob) }
            }
            failed = try copyBlobs(missing, source: source, destination: destination, member: nil, isolate: isolate, report: &report)
        }
        report.blobsSkipped = plan.blobs.count - report.blobsWritten
        // An image that needs a layer that failed is left out, and so are the documents only it used.
        var roots: [SourceImage] = []
        var needed = Set<Digest>()
        var leftOut = Set<Digest>()
        for (root, uses) in zip(plan.roots, plan.rootUses) {
            if let hit = failed.first(where: { uses.contains($0.key) }) {
                report.failures.append(Self.failure(hit.value, image: root, source: source))
                leftOut.formUnion(uses)
            } else {
                roots.append(root)
                needed.formUnion(uses)
            }
        }
        leftOut.subtract(needed)
        // Documents always go through (destinations that write manifest.json need to see them), but
        // those only a left-out image used.
        for doc in plan.documents where !leftOut.contains(doc.descriptor.digest) {
            try destination.putDocument(doc.bytes, descriptor: doc.descriptor)
        }
        for root in roots { try destination.addImage(root) }
        // A referrer goes with its image; none of an image left out.
        for planned in plan.referrers where roots.contains(plan.roots[planned.image]) {
            try destination.addReferrer(planned.referrer, of: plan.roots[planned.image])
        }
        report.images = roots
        report.referrers = plan.referrers.filter { roots.contains(plan.roots[$0.image]) }.map(\.referrer)
        return report
    }

    /// Whether an error is the image's own (bad or missing input), which leaves out only that image;
    /// a failing disk, network or destination, an interruption or a bug stops the whole copy.
    private static func isImageFault(_ error: BaleError) -> Bool {
        ![.io, .interrupted, .outputClosed, .internal].contains(error.code)
    }

    /// The one line that names an image left out of a several-image copy, and why.
    private static func failure(_ error: BaleError, image: SourceImage, source: any ImageSource) -> BaleError {
        let label = image.names.first?.familiar ?? image.descriptor.digest.string
        guard !error.message.contains(label) else { return error }
        return BaleError(error.code, "\(source.name): image \(label) not copied: \(error.message)", cause: error.cause)
    }

    /// Adds a document and what it references to the plan; returns its descriptor as written.
    /// Recursive, but no deeper than `ImageGraph.maxIndexDepth` indexes: an input's nesting cannot
    /// exhaust the stack.
    private func walk(_ descriptor: Descriptor, source: any ImageSource, destination: any ImageDestination,
                      plan: inout Plan, depth: Int) throws -> Descriptor {
        let top = depth == 0
        let bytes = try source.document(descriptor)
        if try isIndex(descriptor, bytes) {
            guard depth < ImageGraph.maxIndexDepth else {
                throw BaleError(.invalidInput, "index \(descriptor.digest) in \(source.name): indexes nested deeper than \(ImageGraph.maxIndexDepth)")
            }
            var index = try JSON.decode(Index.self, from: bytes, what: "index \(descriptor.digest) in \(source.name)")
            if !options.allPlatforms && (options.platform != nil || !source.holdsWholeIndexes) {
                let platform = options.platform ?? .host
                guard let match = ImageGraph.entry(of: index, for: platform) else {
                    throw ImageGraph.noImage(in: index, descriptor.digest, location: source.name, for: platform)
                }
                // One platform: the image is that platform's manifest, as `docker pull` keeps it. Keeping
                // the index would leave it naming manifests the destination does not hold, which layout
                // readers (umoci, oci-image-tool) refuse.
                var chosen = try walk(match, source: source, destination: destination, plan: &plan, depth: depth + 1)
                if top { chosen.annotations = descriptor.withoutNames.annotations }
                return chosen
            }
            var children: [Descriptor] = []
            var changed = false
            // Each child read and checked once: an index may name one manifest thousands of times (with
            // other platforms or annotations, which are the entry's own), and walking it again for every
            // entry made such an index take minutes.
            var walked: [Descriptor: Descriptor] = [:]
            for child in index.manifests {
                guard !Index.isAttestation(child) else { children.append(child); continue }
                var written = try walked[child.blob] ?? walk(child, source: source, destination: destination, plan: &plan, depth: depth + 1)
                walked[child.blob] = written
                written.platform = child.platform
                written.annotations = child.annotations
                changed = changed || written.digest != child.digest
                children.append(written)
            }
            var outDescriptor = descriptor
            var outBytes = bytes
            let mustConvert = !destination.properties.acceptsDockerTypes && (index.mediaType?.isDocker ?? false)
            if changed || mustConvert {
                index.manifests = children
                if mustConvert { index.mediaType = .ociIndex }
                outBytes = try JSON.canonical(index)
                outDescriptor = Descriptor(mediaType: index.mediaType ?? .ociIndex,
                                           digest: SHA256Hasher.digest(outBytes), size: Int64(outBytes.count))
                plan.converted[descriptor.digest] = outDescriptor.digest
            }
            addDocument(Document(descriptor: outDescriptor, bytes: outBytes), to: &plan)
            return keepTopAnnotations(descriptor, outDescriptor, top: top)
        }
        var manifest = try JSON.decode(Manifest.self, from: bytes, what: "manifest \(descriptor.digest) in \(source.name)")
        let configBytes = try source.document(manifest.config)
        _ = try JSON.decode(ImageConfig.self, from: configBytes, what: "config \(manifest.config.digest) in \(source.name)")
        plan.uses.formUnion(manifest.layers.map(\.digest))
        for layer in manifest.layers where plan.seen.insert(layer.digest).inserted {
            plan.blobs.append(layer)
        }
        var outDescriptor = descriptor
        var outBytes = bytes
        if !destination.properties.acceptsDockerTypes && (manifest.mediaType?.isDocker ?? descriptor.mediaType.isDocker) {
            manifest = try ociManifest(from: manifest, source: source)
            outBytes = try JSON.canonical(manifest)
            outDescriptor = Descriptor(mediaType: .ociManifest, digest: SHA256Hasher.digest(outBytes),
                                       size: Int64(outBytes.count))
            plan.converted[descriptor.digest] = outDescriptor.digest
        }
        addDocument(Document(descriptor: manifest.config, bytes: configBytes), to: &plan)
        addDocument(Document(descriptor: outDescriptor, bytes: outBytes), to: &plan)
        return keepTopAnnotations(descriptor, outDescriptor, top: top)
    }

    private func keepTopAnnotations(_ original: Descriptor, _ written: Descriptor, top: Bool) -> Descriptor {
        var d = written
        if top { d.annotations = original.withoutNames.annotations }
        return d
    }

    func addDocument(_ doc: Document, to plan: inout Plan) {
        plan.uses.insert(doc.descriptor.digest)
        guard plan.seen.insert(doc.descriptor.digest).inserted else { return }
        plan.documents.append(doc)
    }

    private func isIndex(_ d: Descriptor, _ bytes: Data) throws -> Bool {
        try ImageGraph.kind(of: d, bytes: bytes) == .index
    }

    /// The OCI form of a Docker schema-2 manifest: same config bytes (so the same image ID), OCI media
    /// types. A layer's compression is read from its first bytes, never from its label (skopeo labels
    /// uncompressed layers `tar.gzip` under `--preserve-digests`).
    private func ociManifest(from manifest: Manifest, source: any ImageSource) throws -> Manifest {
        var out = manifest
        out.mediaType = .ociManifest
        out.config.mediaType = .ociConfig
        out.layers = try manifest.layers.map { layer in
            var l = layer
            switch try LayerCompression.sniff(source.openBlob(layer)) {
            case .gzip: l.mediaType = .ociLayerGzip
            case .zstd: l.mediaType = .ociLayerZstd
            case .none: l.mediaType = .ociLayer
            case .other(let name):
                throw BaleError(.unsupported, "layer \(layer.digest) in \(source.name) is \(name)-compressed, which OCI layouts cannot label")
            }
            return l
        }
        return out
    }

    // MARK: Blobs

    /// Copies `blobs`; the first error stops the copy, except that with `isolate` a blob whose source
    /// fails it (a `BaleError`: bad input, not a broken destination) is only noted, and the others go
    /// on. Returns the blobs noted, each with its error.
    private func copyBlobs(_ blobs: [Descriptor], source: any ImageSource, destination: any ImageDestination,
                           member: ConcurrentCopies.Member?, isolate: Bool, report: inout CopyReport) throws -> [Digest: BaleError] {
        let jobs = destination.properties.concurrentPuts ? min(options.jobs, blobs.count) : 1
        let state = CopyState()
        @Sendable func one(_ blob: Descriptor) throws {
            do {
                try copyBlob(blob, source: source, destination: destination, member: member, state: state)
            } catch let error as BaleError where isolate && Self.isImageFault(error) {
                state.skip(blob.digest, error)
            }
        }
        if jobs <= 1 {
            for blob in blobs { try one(blob) }
        } else {
            // Each worker takes the next blob; the first error stops the others from starting new ones.
            DispatchQueue.concurrentPerform(iterations: jobs) { _ in
                while let blob = state.next(blobs) {
                    do {
                        try one(blob)
                    } catch {
                        state.fail(error)
                    }
                }
            }
            if let error = state.error { throw error }
        }
        report.blobsWritten = state.written
        report.bytesWritten = state.bytes
        return state.skipped
    }

    /// One blob: within the shared budget when other copies run beside this one.
    private func copyBlob(_ blob: Descriptor, source: any ImageSource, destination: any ImageDestination,
                          member: ConcurrentCopies.Member?, state: CopyState) throws {
        guard let member else { return try copyBlob(blob, source: source, destination: destination, state: state) }
        try member.group.moving { try copyBlob(blob, source: source, destination: destination, state: state) }
    }

    private func copyBlob(_ blob: Descriptor, source: any ImageSource, destination: any ImageDestination,
                          state: CopyState) throws {
        var attempt = 1
        while true {
            options.onBlob?(.started(blob))
            let opened = try source.openBlob(blob)
            let reader: any BlobReader
            switch (options.progress, options.blobProgress) {
            case (nil, nil): reader = opened
            case (let total, let each): reader = CountingReader(opened) { n in total?(n); each?(blob, n) }
            }
            defer { reader.close() }
            do {
                let (_, size) = try destination.putBlob(reader, expected: blob)
                state.record(size)
                options.onBlob?(.copied(blob))
                return
            } catch is PutInterrupted where attempt < PutInterrupted.attempts {
                // The destination lost what it was sent: the same bytes again, from the source, after
                // a pause that grows (a registry restarting, a link coming back).
                Thread.sleep(forTimeInterval: 0.5 * Double(attempt))
                attempt += 1
            } catch let error as PutInterrupted {
                let text = (error.cause as? BaleError)?.message ?? String(describing: error.cause)
                throw BaleError(.io, "\(source.name): layer \(blob.digest): \(text) (\(attempt) attempts)", cause: error.cause)
            } catch let error as BaleError {
                throw BaleError(error.code, "\(source.name): layer \(blob.digest): \(error.message)", cause: error.cause)
            }
        }
    }
}

/// Reports the bytes read through it.
final class CountingReader: BlobReader {
    private let base: any BlobReader
    private let report: @Sendable (Int64) -> Void
    init(_ base: any BlobReader, _ report: @escaping @Sendable (Int64) -> Void) {
        self.base = base
        self.report = report
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 { report(Int64(n)) }
        return n
    }
    func close() { base.close() }
}

/// A sink that reports the bytes put through it (staging a streaming source).
final class CountingSink: BlobSink, @unchecked Sendable {
    // Sendable: both fields are immutable; the base sink is Sendable.
    private let base: any BlobSink
    private let report: @Sendable (Int64) -> Void
    init(_ base: any BlobSink, _ report: @escaping @Sendable (Int64) -> Void) {
        self.base = base
        self.report = report
    }
    func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try base.put(CountingReader(reader, report), expected: expected)
    }
    func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let result = try base.putProduced(produce)
        report(result.size)
        return result
    }
    func open(_ digest: Digest) throws -> any BlobReader { try base.open(digest) }
    func file(_ digest: Digest) -> String? { base.file(digest) }
    func contains(_ digest: Digest, size: Int64?) -> Bool { base.contains(digest, size: size) }
    func recordUnpackedSize(_ size: Int64, of digest: Digest) { base.recordUnpackedSize(size, of: digest) }
}

/// Shared progress of the concurrent blob copies.
private final class CopyState: @unchecked Sendable {
    // Sendable: every field is guarded by `lock`.
    private let lock = NSLock()
    private var nextIndex = 0
    private(set) var written = 0
    private(set) var bytes: Int64 = 0
    private(set) var error: (any Error)?

    func next(_ blobs: [Descriptor]) -> Descriptor? {
        lock.withLock {
            guard error == nil, nextIndex < blobs.count else { return nil }
            defer { nextIndex += 1 }
            return blobs[nextIndex]
        }
    }

    func record(_ size: Int64) {
        lock.withLock { written += 1; bytes += size }
    }

    func fail(_ e: any Error) {
        lock.withLock { if error == nil { error = e } }
    }

    /// Blobs left out of a several-image copy, with why (see `Copier.copyBlobs`).
    private(set) var skipped: [Digest: BaleError] = [:]

    func skip(_ digest: Digest, _ e: BaleError) {
        lock.withLock { skipped[digest] = e }
    }
}

/// How a layer blob is compressed, from its magic bytes.
public enum LayerCompression: Equatable, Sendable {
    case none, gzip, zstd
    case other(String)

    /// Reads the first bytes of `reader` (and closes it).
    public static func sniff(_ reader: any BlobReader) throws -> LayerCompression {
        defer { reader.close() }
        var head = [UInt8](repeating: 0, count: 6)
        var filled = 0
        while filled < head.count {
            let n = try head.withUnsafeMutableBytes { raw in
                try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
            }
            if n == 0 { break }
            filled += n
        }
        return detect(Array(head[0..<filled]))
    }

    /// Detects gzip, zstd, xz and bzip2 magic numbers; anything else is taken as a plain tar.
    public static func detect(_ head: [UInt8]) -> LayerCompression {
        if head.starts(with: [0x1f, 0x8b]) { return .gzip }
        if head.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if head.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return .other("xz") }
        if head.starts(with: [0x42, 0x5a, 0x68]) { return .other("bzip2") }
        return .none
    }
}
