import BaleCore
import BaleIO
import Foundation

/// What `bale serve` answers from, built once at start from its locations and read-only afterwards:
///
/// ```
/// repository name (the image name without registry host for docker.io: "busybox", "team/app";
///                  with it, less any port, elsewhere: "quay.io/team/app", "localhost/team/app")
///   tags        tag → manifest or index digest
///   manifests   digest → original bytes and media type (every manifest and index of the tagged images,
///               and the untagged manifests of the same location that refer to one of them)
///   blobs       digest → where its bytes lie (FileRegion: a blob file, or a member of an archive)
///   referrers   subject digest → the descriptors of the manifests whose `subject` it is
/// ```
///
/// Manifests keep their bytes and digests: nothing is converted, so signatures and pulls by digest hold.
public final class ServedContent: Sendable {
    /// One manifest or index: its bytes, as the location holds them, and its media type.
    public struct Document: Sendable {
        public var mediaType: MediaType
        public var bytes: Data
    }

    /// One repository's content.
    public struct Repository: Sendable {
        public var tags: [String: Digest] = [:]
        public var manifests: [Digest: Document] = [:]
        public var blobs: [Digest: FileRegion] = [:]
        public var referrers: [Digest: [Descriptor]] = [:]
    }

    public let repositories: [String: Repository]
    /// Sorted repository names, for `_catalog`.
    public let names: [String]
    /// What the user is told at start (one line each): blobs that were missing, archives decompressed.
    public let notes: [String]
    private let sources: [any ImageSource]

    /// Opens each location, indexes what it holds, and closes nothing until `close()`: blob regions point
    /// into the locations. The store is the exception: it is closed once indexed, which lets go of its
    /// shared lock. Its blobs are files named by their digests and never rewritten, so serving them
    /// needs no lock, and holding one for the server's life would make every `pull`, `sync`, `load`
    /// and `rmi` into the store wait until the server stops. A blob removed meanwhile (`rmi`, `prune`)
    /// is then unknown, as in a registry after garbage collection. A repository name found in two
    /// locations is an error.
    public init(locations: [Location], context: LocationContext, say: (String) -> Void) throws {
        var repositories: [String: Repository] = [:]
        var owner: [String: String] = [:]
        var sources: [any ImageSource] = []
        var notes: [String] = []
        do {
            for location in locations {
                let opened = try Self.open(location, context: context, say: say)
                sources.append(opened.source)
                let found = try Self.index(opened.source, region: opened.region)
                if location.format.prefix == StoreFormat.prefix { sources.removeLast().close() }
                for (name, repository) in found {
                    if let other = owner[name] {
                        throw BaleError(.usage, "repository \"\(name)\" is in both \(other) and \(location); serve them separately or rename one")
                    }
                    owner[name] = location.description
                    repositories[name] = repository
                }
                notes += opened.source.warnings
            }
        } catch {
            sources.forEach { $0.close() }
            throw error
        }
        self.repositories = repositories
        self.names = repositories.keys.sorted()
        self.notes = notes
        self.sources = sources
    }

    /// The repository a request names: as served, or a docker.io official image asked for with its
    /// `library/` prefix (`library/busybox` is `busybox`).
    public func repository(_ name: String) -> Repository? {
        if let found = repositories[name] { return found }
        if name.hasPrefix("library/") { return repositories[String(name.dropFirst("library/".count))] }
        return nil
    }

    public func close() { sources.forEach { $0.close() } }

    // MARK: Opening

    private typealias Opened = (source: any ImageSource, region: (Descriptor) -> FileRegion?)

    /// Opens one location for serving. An archive is staged into a `RegionSink` (so its blobs are served
    /// from their places in the file); a compressed archive is first decompressed once to a temporary
    /// file, since a compressed stream cannot be read by offset.
    private static func open(_ location: Location, context: LocationContext, say: (String) -> Void) throws -> Opened {
        var location = location
        if location.format.prefix == StoreFormat.prefix, location.reference == nil {
            let source = try StoreSource(everythingIn: context.store())
            return (source, { d in source.blobFile(d).map { FileRegion(path: $0, offset: 0, length: d.size) } })
        }
        var source = try location.source(context)
        guard source is any StreamingImageSource else {
            return (source, { d in source.blobFile(d).map { FileRegion(path: $0, offset: 0, length: d.size) } })
        }
        guard [DockerArchiveFormat.prefix, OCIArchiveFormat.prefix].contains(location.format.prefix) else {
            source.close()
            throw BaleError(.usage, "\(location): bale serve reads the store, OCI layouts, registry trees and archives, not \(location.format.prefix): locations")
        }
        var temporary: TemporaryFile?
        if let plain = try TemporaryFile.decompressed(location.path, in: context.temporaryDirectory, say: say) {
            temporary = plain
            source.close()
            location = try Location(parsing: "\(location.format.prefix):\(plain.path)" + (location.reference.map { ":" + $0 } ?? ""))
            source = try location.source(context)
        }
        guard let archive = source as? any StreamingImageSource else { return (source, { _ in nil }) }
        let sink = try RegionSink(temporaryDirectory: context.temporaryDirectory)
        try archive.stage(into: sink)
        return (KeepingAlive(archive, [sink, temporary as AnyObject?].compactMap { $0 }),
                { d in
                    if let region = sink.region(d.digest) { return region }
                    // A config the pass kept only in memory (a legacy archive's `<id>.json`): staged as
                    // a small file of its own, since it is served as a blob.
                    guard d.size <= Int64(JSON.maxDocumentSize), let data = try? archive.document(d),
                          (try? sink.put(DataReader(data), expected: d)) != nil else { return nil }
                    return sink.region(d.digest)
                })
    }

    // MARK: Indexing

    /// The repositories one source holds: every named image's graph, then the untagged manifests that
    /// refer (`subject`) to something in a repository.
    private static func index(_ source: any ImageSource, region: (Descriptor) -> FileRegion?) throws -> [String: Repository] {
        var repositories: [String: Repository] = [:]
        let images = try source.images()
        // Only what is typed as a manifest or an index is read as one: an artifact's layers may be of
        // any type (a signature, an SBOM), and are blobs.
        func read(_ d: Descriptor) throws -> Data? {
            guard d.mediaType.isManifest || d.mediaType.isIndex, d.size <= Int64(JSON.maxDocumentSize) else { return nil }
            return try? source.document(d)
        }
        func collect(_ root: Descriptor, into repository: inout Repository) throws {
            try ImageGraph.walk([root], read: read) { descriptor, node in
                switch node {
                case .index(let index):
                    guard let bytes = try read(descriptor) else { return false }
                    repository.manifests[descriptor.digest] = Document(mediaType: index.mediaType ?? (descriptor.mediaType.isIndex ? descriptor.mediaType : .ociIndex), bytes: bytes)
                    if let subject = index.subject {
                        repository.referrers[subject.digest, default: []].append(Self.referrer(descriptor, artifactType: index.artifactType, annotations: index.annotations, mediaType: index.mediaType))
                    }
                case .manifest(let manifest):
                    guard let bytes = try read(descriptor) else { return false }
                    repository.manifests[descriptor.digest] = Document(mediaType: manifest.mediaType ?? (descriptor.mediaType.isManifest ? descriptor.mediaType : .ociManifest), bytes: bytes)
                    if let subject = manifest.subject {
                        repository.referrers[subject.digest, default: []].append(Self.referrer(descriptor, artifactType: manifest.artifactType ?? manifest.config.mediaType.rawValue, annotations: manifest.annotations, mediaType: manifest.mediaType))
                    }
                case .leaf:
                    // A child index entry absent from the location (a store keeps the platforms pulled)
                    // is simply not served; a config or layer is served where its bytes are.
                    if let place = region(descriptor) { repository.blobs[descriptor.digest] = place }
                }
                return true
            }
        }
        var untagged: [Descriptor] = []
        // The image name each repository is served for: two names that come out as one repository
        // (`reg:5000/app` and `reg:6000/app`) would otherwise share, and overwrite, its tags.
        var servedFor: [String: String] = [:]
        for image in images {
            guard !image.names.isEmpty else { untagged.append(image.descriptor); continue }
            for name in image.names {
                let repo = Self.repositoryName(name)
                if let other = servedFor[repo], other != name.familiarName {
                    throw BaleError(.usage, "\"\(other)\" and \"\(name.familiarName)\" would both be served as repository \"\(repo)\"; rename one (bale tag) and serve again")
                }
                servedFor[repo] = name.familiarName
                try collect(image.descriptor, into: &repositories[repo, default: Repository()])
                if let tag = name.tag { repositories[repo]?.tags[tag] = image.descriptor.digest }
            }
        }
        // What refers to a repository's manifests, as the source finds it for a copy (the one place:
        // `ImageSource.referrers(of:)`): served beside them, a cosign attachment under its tag.
        for name in repositories.keys.sorted() {
            var repository = repositories[name]!
            var queue = repository.manifests.keys.sorted()
            var asked = Set<Digest>()
            while let digest = queue.popLast() {
                guard asked.insert(digest).inserted else { continue }
                for referrer in try source.referrers(of: digest) {
                    try collect(referrer.descriptor, into: &repository)
                    if let tag = referrer.tag { repository.tags[tag] = referrer.descriptor.digest }
                    queue.append(referrer.descriptor.digest)
                }
            }
            repositories[name] = repository
        }
        // Untagged images (referrers kept beside what they refer to, e.g. in the store's index.json)
        // go to each repository that holds their subject.
        for root in untagged {
            var scratch = Repository()
            try collect(root, into: &scratch)
            let subjects = Set(scratch.referrers.keys)
            for (name, repository) in repositories where !subjects.isDisjoint(with: repository.manifests.keys) {
                var merged = repository
                merged.manifests.merge(scratch.manifests) { a, _ in a }
                merged.blobs.merge(scratch.blobs) { a, _ in a }
                for (subject, list) in scratch.referrers { merged.referrers[subject, default: []] += list }
                repositories[name] = merged
            }
        }
        // One order for every answer: by digest.
        for name in repositories.keys {
            for subject in repositories[name]!.referrers.keys {
                repositories[name]!.referrers[subject] = Self.unique(repositories[name]!.referrers[subject]!)
            }
        }
        return repositories
    }

    /// The name a repository is served under: docker.io's images by their familiar path, others with
    /// their registry host, as `docker pull 127.0.0.1:5000/<that>` asks for them. The host becomes the
    /// first path component, so it loses what a path component cannot hold (distribution/reference's
    /// `path-component := [a-z0-9]+ ...`): its port and capitals. `localhost:5000/team/app` is served as
    /// `localhost/team/app`; served as it is, no client could even parse a name asking for it.
    static func repositoryName(_ reference: Reference) -> String {
        guard reference.domain != "docker.io" else {
            return reference.path.hasPrefix("library/") ? String(reference.path.dropFirst(8)) : reference.path
        }
        // The port follows the last colon after an IPv6 address's closing bracket, if any.
        var host = Substring(reference.domain)
        if let colon = host.lastIndex(of: ":"), !host[colon...].contains("]") { host = host[..<colon] }
        return host.lowercased() + "/" + reference.path
    }

    private static func referrer(_ d: Descriptor, artifactType: String?, annotations: [String: String]?,
                                 mediaType: MediaType?) -> Descriptor {
        var entry = Descriptor(mediaType: mediaType ?? d.mediaType, digest: d.digest, size: d.size, annotations: annotations)
        entry.artifactType = artifactType
        return entry
    }

    private static func unique(_ list: [Descriptor]) -> [Descriptor] {
        var seen = Set<Digest>()
        return list.filter { seen.insert($0.digest).inserted }.sorted { $0.digest < $1.digest }
    }
}

/// A source that keeps what its blobs are read from alive (the region sink, a decompressed temporary
/// copy) until it is closed.
private final class KeepingAlive: ImageSource, @unchecked Sendable {
    // Sendable: immutable after init.
    private let source: any ImageSource
    private var kept: [AnyObject]
    init(_ source: any ImageSource, _ kept: [AnyObject]) {
        self.source = source
        self.kept = kept
    }
    var name: String { source.name }
    func images() throws -> [SourceImage] { try source.images() }
    func document(_ descriptor: Descriptor) throws -> Data { try source.document(descriptor) }
    func openBlob(_ descriptor: Descriptor) throws -> any BlobReader { try source.openBlob(descriptor) }
    var warnings: [String] { source.warnings }
    func close() {
        source.close()
        kept = []
    }
}

/// A decompressed copy of a compressed archive, removed on deinit.
final class TemporaryFile {
    let path: String
    private init(path: String) { self.path = path }
    deinit { unlink(path) }

    /// nil when `path` is not compressed (it is then served in place); else its decompressed copy in
    /// `directory`, saying so first (a compressed stream cannot be read by offset) and then how big.
    static func decompressed(_ path: String, in directory: String, say: (String) -> Void) throws -> TemporaryFile? {
        let input = try FileBlobReader(path: path)
        defer { input.close() }
        let stream = try DecompressingSource(source: input, name: path)
        guard stream.compression != .none else { return nil }
        var compressedSize: Int64 = 0
        if let size = RegionSink.fileSize(path) { compressedSize = size }
        let target = TemporaryFile(path: "\(directory)/bale-serve-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tar")
        say("\(path) is \(stream.compression.rawValue)-compressed (\(compressedSize) bytes), which cannot be read by offset: decompressing it once to \(target.path)")
        let out = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw BaleError.posix("cannot create", path: target.path) }
        defer { Glibc.close(out) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try stream.read(into: buffer)
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = write(out, buffer.baseAddress! + done, n - done)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw BaleError.posix("write failed", path: target.path)
                }
                done += w
            }
            total += Int64(n)
        }
        say("\(path): decompressed to \(total) bytes")
        return target
    }
}
