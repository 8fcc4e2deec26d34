import BaleCore
import BaleIO
import Foundation

/// A `docker save` tarball as a destination, written like Docker 25: both forms in one tar stream.
///
/// ```
/// blobs/                      directory entries first
/// blobs/sha256/
/// blobs/sha256/<hex>          every blob once, exactly as given (layers as stored, configs, manifests)
/// oci-layout                  {"imageLayoutVersion":"1.0.0"}
/// index.json                  one entry per name: io.containerd.image.name + ref.name (the tag);
///                             an untagged image gets one bare entry
/// manifest.json               [{"Config":"blobs/sha256/<config>","Layers":["blobs/sha256/<layer>",…],
///                               "RepoTags":["familiar:tag",…] or null}]   image order
/// repositories                {"familiar repo":{"tag":"<top layer diffID hex>"}}
/// ```
///
/// The tar is deterministic (owner 0/0, mtime 0, mode 0644, no end padding) and compressed as a whole
/// when asked. A file is written under a temp name in its directory and renamed only at `commit`, so a
/// failed save never leaves a half archive under the final name (a symlink's target is replaced and the
/// link kept; a device or FIFO is written into directly: `OutputFile`). A split archive is the same
/// stream cut into parts as it passes (`SplitFileSink`), renamed into place as a set at `commit`. Blobs are verified (size and digest)
/// while they are written into their tar member; a mismatch fails the put and the archive.
public final class ArchiveDestination: ImageDestination, @unchecked Sendable {
    // Sendable: every mutable field is guarded by `lock` (the copier puts one blob at a time anyway:
    // `concurrentPuts` is false, since a tar stream has one position).
    public let name: String
    public let properties: DestinationProperties
    /// What the archive holds besides the OCI layout.
    public enum Form: Sendable {
        /// manifest.json and repositories too, for docker load of every version (docker-archive:).
        case docker
        /// The OCI layout only (oci-archive:); REF, when given, is the single image's ref.name.
        case oci(reference: String?)
    }
    private let form: Form
    private var expected: [Digest: String] = [:]

    private let lock = NSLock()
    private let temporaryDirectory: String
    private var file: (any CommittableSink)?
    private var writer: TarWriter?
    private var written = Set<Digest>()
    private var documents: [Digest: Data] = [:]
    private var images: [SourceImage] = []
    private var referrers: [(referrer: Referrer, image: SourceImage)] = []
    private var failure: (any Error)?
    private var done = false

    /// Writes the archive to `path` (`-`: stdout, refused when it is a terminal). `temporaryDirectory`
    /// holds blobs whose size is not known in advance while they are measured. `splitSize` writes it as
    /// the parts PATH.000, PATH.001, … of at most that many bytes each, plus PATH.sha256
    /// (`SplitFileSink`; not to stdout).
    public convenience init(path: String, compression: ArchiveCompression = .none, form: Form = .docker,
                            temporaryDirectory: String = NSTemporaryDirectory(), name: String? = nil,
                            splitSize: Int64? = nil) throws {
        let location = name ?? "docker-archive:\(path)"
        if path == "-" {
            guard splitSize == nil else {
                throw BaleError(.usage, "\(location): a split archive is written to files; give a file name, not -")
            }
            guard isatty(1) == 0 else {
                throw BaleError(.usage, "\(location): refusing to write an archive to a terminal; redirect stdout or give a file")
            }
            try self.init(fileDescriptor: 1, compression: compression, form: form,
                          temporaryDirectory: temporaryDirectory, name: location)
            return
        }
        let file: any CommittableSink
        do {
            if let splitSize {
                file = try SplitFileSink(path: path, partSize: splitSize)
            } else {
                file = try OutputFile(path: path)
            }
        } catch let error as BaleError {
            throw BaleError(error.code, "\(location): \(error.message)", cause: error.cause)
        }
        try self.init(sink: file, file: file, compression: compression, form: form,
                      temporaryDirectory: temporaryDirectory, name: location)
    }

    /// Writes the archive to an open descriptor (stdout, a pipe), which is not closed.
    public convenience init(fileDescriptor: Int32, compression: ArchiveCompression = .none, form: Form = .docker,
                            temporaryDirectory: String = NSTemporaryDirectory(), name: String) throws {
        try self.init(sink: FileDescriptorSink(fileDescriptor: fileDescriptor, name: name), file: nil,
                      compression: compression, form: form, temporaryDirectory: temporaryDirectory, name: name)
    }

    /// Writes the archive into `sink` (an upload to an engine: `docker-daemon:`), whose `commit` is
    /// called last, when the archive is complete, and `discard` on abort.
    public convenience init(sink: any CommittableSink, temporaryDirectory: String = NSTemporaryDirectory(),
                            name: String) throws {
        try self.init(sink: sink, file: sink, compression: .none, form: .docker,
                      temporaryDirectory: temporaryDirectory, name: name)
    }

    private init(sink: any ByteSink, file: (any CommittableSink)?, compression: ArchiveCompression,
                 form: Form, temporaryDirectory: String, name: String) throws {
        self.name = name
        self.form = form
        // OCI layouts are read by skopeo and umoci only when OCI-typed: the copier converts for them.
        if case .docker = form {
            properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: false)
        } else {
            properties = DestinationProperties(acceptsDockerTypes: false, concurrentPuts: false)
        }
        self.file = file
        self.temporaryDirectory = temporaryDirectory
        let tarCompression: TarCompression
        switch compression {
        case .none: tarCompression = .none
        case .gzip: tarCompression = .gzip
        case .xz: tarCompression = .xz
        case .zstd: tarCompression = .zstd
        }
        do {
            // Blocks of 0: a blob's 1 MiB writes reach the file whole, not as a hundred 10240-byte writes.
            let writer = try TarWriter(sink: sink, name: name, compression: tarCompression,
                                       normalise: TarWriter.Normalisation(), blockSize: 0)
            try writer.writeDirectory(path: "blobs/")
            try writer.writeDirectory(path: "blobs/sha256/")
            self.writer = writer
        } catch {
            file?.discard()
            throw error
        }
    }

    deinit {
        // Neither commit nor abort (a bug in the caller): never leave the temp file behind.
        if !done { file?.discard() }
    }

    static func memberPath(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        lock.withLock { written.contains(digest) }
    }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        try lock.withLock {
            try checkUsable()
            do {
                if let expected {
                    if written.contains(expected.digest) { return (expected.digest, expected.size) }
                    try writeMember(reader, digest: expected.digest, size: expected.size)
                    return (expected.digest, expected.size)
                }
                return try putMeasuring(reader)
            } catch {
                failure = failure ?? error
                throw error
            }
        }
    }

    public func putDocument(_ bytes: Data, descriptor: Descriptor) throws {
        try lock.withLock {
            try checkUsable()
            let actual = SHA256Hasher.digest(bytes)
            guard actual == descriptor.digest, Int64(bytes.count) == descriptor.size else {
                throw BaleError(.integrity, "\(name): document \(descriptor.digest): \(bytes.count) bytes hashing to \(actual), its descriptor gives \(descriptor.size) bytes")
            }
            documents[descriptor.digest] = bytes
            guard !written.contains(descriptor.digest) else { return }
            do {
                try writeMember(DataReader(bytes), digest: descriptor.digest, size: descriptor.size)
            } catch {
                failure = failure ?? error
                throw error
            }
        }
    }

    public func addImage(_ image: SourceImage) throws {
        try lock.withLock {
            try checkUsable()
            if case .oci(let reference?) = form, !images.isEmpty {
                throw BaleError(.usage, "\(name): one name (\(reference)) was given but several images were copied; leave the name out")
            }
            images.append(image)
        }
    }

    /// Referrers go into index.json (both forms: Docker 25+ reads it), never into manifest.json, which
    /// lists images docker can run.
    public var holdsReferrers: Bool { true }

    public func addReferrer(_ referrer: Referrer, of image: SourceImage) throws {
        try lock.withLock {
            try checkUsable()
            referrers.append((referrer, image))
        }
    }

    /// An incremental archive: the list of left-out blobs is written now, as the first member after the
    /// directories, so a loader can refuse before it writes anything; index.json carries it too.
    public func expect(_ blobs: [Digest: String]) throws {
        try lock.withLock {
            try checkUsable()
            guard written.isEmpty, let writer else {
                throw BaleError(.internal, "\(name): the blobs to leave out must be known before any is written")
            }
            expected = blobs
            try writer.writeFile(path: RawPath(Incremental.memberName), data: JSON.canonical(Incremental.Expectation(blobs: blobs)))
        }
    }

    public func commit() throws {
        try lock.withLock {
            try checkUsable()
            do {
                try writeMetadata()
                try writer?.finish()
                writer = nil
                if let file {
                    do {
                        try file.commit()
                    } catch let error as BaleError where !error.message.hasPrefix(name) {
                        throw BaleError(error.code, "\(name): \(error.message)", cause: error.cause)
                    }
                }
                done = true
            } catch {
                failure = failure ?? error
                throw error
            }
        }
    }

    public func abort() {
        lock.withLock {
            // Dropping the writer unfinished writes no end-of-archive marker, so a partial stream on stdout
            // never reads as a complete archive.
            writer = nil
            if !done { file?.discard() }
            done = true
        }
    }

    // MARK: Writing

    private func checkUsable() throws {
        if let failure { throw failure }
        if done { throw BaleError(.internal, "\(name): used after commit or abort") }
    }

    /// Streams `size` bytes from `reader` into the member for `digest`, hashing on the way (on a second
    /// thread: `HashingCopy`); the size must be right before the header is written, the digest is checked
    /// before the member is ended, so a mismatch fails the save.
    private func writeMember(_ reader: any BlobReader, digest: Digest, size: Int64) throws {
        guard let writer else { throw BaleError(.internal, "\(name): no archive writer") }
        guard digest.algorithm == .sha256 else {
            throw BaleError(.unsupported, "\(name): \(digest): only sha256 blobs can be written to a docker-archive")
        }
        try writer.beginEntry(TarEntry(path: RawPath(Self.memberPath(digest)), kind: .file, size: size, mode: 0o644))
        try HashingCopy.copy(from: reader, to: ClosureByteSink { try writer.write($0) },
                             expected: (digest, size), name: "\(name): \(digest)")
        try writer.endEntry()
        written.insert(digest)
    }

    /// A blob whose size is unknown: measured and hashed into a temp file first, then written.
    private func putMeasuring(_ reader: any BlobReader) throws -> (digest: Digest, size: Int64) {
        let temp = try AtomicFile(directory: temporaryDirectory, prefix: ".bale-blob-")
        defer { temp.discard() }
        let (digest, size) = try HashingCopy.copy(from: reader, to: temp,
                                                  name: "\(name): blob")
        if written.contains(digest) { return (digest, size) }
        let again = try FileBlobReader(path: temp.temporaryPath)
        defer { again.close() }
        try writeMember(again, digest: digest, size: size)
        return (digest, size)
    }

    /// oci-layout, index.json, manifest.json and repositories, from the images and documents given.
    private func writeMetadata() throws {
        guard let writer else { throw BaleError(.internal, "\(name): no archive writer") }
        var items: [ArchiveManifestItem] = []
        var index = Index(mediaType: .ociIndex, manifests: [])
        var repositories: [String: [String: String]] = [:]
        var listed = Set<Digest>() // index.json entries so far (a search per image was quadratic)
        for image in images {
            let manifest = try imageManifest(image.descriptor)
            for blob in [manifest.config] + manifest.layers where !written.contains(blob.digest) && expected[blob.digest] == nil {
                throw BaleError(.internal, "\(name): image \(image.descriptor.digest): blob \(blob.digest) was not written to the archive")
            }
            let tags = image.names.filter { $0.digest == nil }.map { $0.withDefaultTag() }
            if case .oci(let reference?) = form {
                var entry = image.descriptor
                entry.annotations = [Descriptor.Annotation.refName: reference]
                entry.platform = nil
                index.manifests.append(entry)
                continue
            }
            items.append(ArchiveManifestItem(config: Self.memberPath(manifest.config.digest),
                                                   repoTags: tags.isEmpty ? nil : tags.map(\.familiar),
                                                   layers: manifest.layers.map { Self.memberPath($0.digest) }))
            var entry = image.descriptor
            entry.annotations = nil
            entry.platform = nil
            if tags.isEmpty {
                // As Docker 25: an untagged image gets a bare entry unless one for it is already there.
                if listed.insert(entry.digest).inserted { index.manifests.append(entry) }
            } else {
                listed.insert(entry.digest)
                for tag in tags {
                    var named = entry
                    named.annotations = LayoutIndex.annotations(for: tag)
                    index.manifests.append(named)
                }
            }
            let config = documents[manifest.config.digest].flatMap {
                try? JSON.decode(ImageConfig.self, from: $0, what: "config")
            }
            if let top = config?.rootfs.diffIDs.last {
                for tag in tags { repositories[tag.familiarName, default: [:]][tag.tag ?? "latest"] = top.encoded }
            }
        }
        var reference: String?
        if case .oci(let r) = form { reference = r }
        for (referrer, image) in referrers {
            index.manifests += try LayoutIndex.entries(for: referrer, of: image, reference: reference)
        }
        if !expected.isEmpty {
            index.annotations = [Incremental.annotation: String(decoding: try JSON.canonical(Incremental.Expectation(blobs: expected)), as: UTF8.self)]
        }
        try writer.writeFile(path: "oci-layout", data: Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try writer.writeFile(path: "index.json", data: JSON.canonical(index))
        if case .docker = form {
            try writer.writeFile(path: "manifest.json", data: JSON.canonical(items))
            try writer.writeFile(path: "repositories", data: JSON.canonical(repositories))
        }
    }

    /// The manifest manifest.json describes for a top-level descriptor: the manifest itself, or for an
    /// index the host platform's manifest among those copied (the only one, if just one was).
    private func imageManifest(_ descriptor: Descriptor) throws -> Manifest {
        do {
            return try ImageGraph.manifest(of: descriptor, platform: .host, location: name) { documents[$0.digest] }.manifest
        } catch let error as BaleError where error.code == .notFound {
            throw BaleError(.notFound, "\(name): \(descriptor.digest) has no manifest for \(Platform.host) among those copied, so manifest.json cannot describe it", cause: error)
        }
    }
}
