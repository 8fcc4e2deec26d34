import BaleCore
import BaleIO
import Foundation

/// A registry storage tree as a source (`registry-tree:DIR[:NAME[:TAG|@DIGEST]]`, layout in
/// RegistryTreeFormat.swift), whether bale or the registry wrote it. A blob is read only as the
/// registry serves it: through a repository's link (`_manifests/revisions` for manifests and indexes,
/// `_layers` for configs and layers) to a `data` file that is there. The repository is the image's;
/// when every repository is read, any of them (the copier asks for blobs by digest alone). A missing
/// link, a link to missing data, or a malformed link file stops the copy with the tree, the repository
/// and the digest.
///
/// - `NAME:TAG`: that tag; `NAME` alone: its `latest` tag, as `docker pull NAME` takes.
/// - `NAME@DIGEST`: that manifest or index (a revision of the repository), with no name, as a pull by
///   digest gives.
/// - nothing: every tag of every repository, repositories found as the registry's catalog finds them
///   (see `repositories(under:)`), both in lexical order; an image under several tags is one image
///   with several names.
///
/// A tag that names an index gives, as from any location but the store, the host's platform unless
/// `--platform` or `--all-platforms` says otherwise (what `docker pull` keeps).
public final class RegistryTreeSource: ImageSource, @unchecked Sendable {
    // Sendable: immutable after init.
    private let reader: TreeReader
    private let selected: [SourceImage]
    /// The repositories of the selected images: a blob is read only through a link of one of them.
    private let repositories: [String]
    private let referrerMap: ReferrerMap
    public var name: String { reader.name }
    var tree: RegistryTree { reader.tree }

    public init(root: String, reference: String?) throws {
        let reader = TreeReader(tree: RegistryTree(root: root), name: "registry-tree:\(root)")
        self.reader = reader
        let tree = reader.tree, name = reader.name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: tree.base, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BaleError(.notFound, "\(name): no docker/registry/v2 directory: not a registry storage root")
        }
        var images: [SourceImage] = []
        var repos: [String] = []
        if let reference {
            let (repo, tag, digest) = try RegistryTree.parse(reference, location: name)
            guard access(tree.repository(repo) + "/_manifests", F_OK) == 0 else {
                throw BaleError(.notFound, "\(name): no repository \(repo)")
            }
            repos = [repo]
            if let digest {
                images = [SourceImage(descriptor: try reader.rootDescriptor(repo, digest), names: [])]
            } else {
                images = [try reader.tagged(repo, tag ?? "latest")]
            }
        } else {
            var position: [Digest: Int] = [:]
            for repo in try Self.repositories(under: tree.repositoriesPath) {
                repos.append(repo)
                // Cosign attachments and fallback indexes ride along with their image (`referrers(of:)`).
                for tag in try Self.entries(tree.tagsPath(repo)) where !Referrer.isReferrerTag(tag) {
                    let image = try reader.tagged(repo, tag)
                    if let i = position[image.descriptor.digest] {
                        images[i].names.append(contentsOf: image.names)
                    } else {
                        position[image.descriptor.digest] = images.count
                        images.append(image)
                    }
                }
            }
            guard !images.isEmpty else { throw BaleError(.notFound, "\(name): no tagged image in the tree") }
        }
        selected = images
        repositories = repos
        // What may refer to an image: every revision of its repositories (a `subject`), and their tags.
        let linked = repos
        referrerMap = ReferrerMap(candidates: {
            var candidates: [ReferrerMap.Candidate] = []
            for repo in linked {
                for tag in try Self.entries(tree.tagsPath(repo)) where Referrer.cosignSubject(ofTag: tag) != nil {
                    guard let digest = try RegistryTree.readLink(tree.tagCurrentLink(repo, tag), what: "\(name): repository \(repo): tag \(tag)") else { continue }
                    candidates.append(.init(descriptor: try reader.rootDescriptor(repo, digest), tag: tag))
                }
                for hex in try Self.entries(tree.repository(repo) + "/_manifests/revisions/sha256") {
                    guard let digest = try? Digest(sha256Hex: hex),
                          let descriptor = try? reader.rootDescriptor(repo, digest) else { continue }
                    candidates.append(.init(descriptor: descriptor, tag: nil))
                }
            }
            return candidates
        }, read: { d in
            for repo in linked {
                if let path = try? reader.linkedData(d.digest, in: repo) {
                    let data = try RegularFile.read(path, limit: JSON.maxDocumentSize + 1)
                    try d.verify(data, in: name)
                    return data
                }
            }
            return nil
        })
    }

    public func referrers(of digest: Digest) throws -> [Referrer] { try referrerMap.referrers(of: digest) }

    public func images() throws -> [SourceImage] { selected }

    public func document(_ descriptor: Descriptor) throws -> Data {
        try descriptor.checkDocumentSize(in: name)
        let path = try linkedData(descriptor.digest)
        let data: Data
        do {
            data = try RegularFile.read(path, limit: JSON.maxDocumentSize + 1)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(name): \(descriptor.digest): \(error.message)")
        }
        try descriptor.verify(data, in: name)
        return data
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        try FileBlobReader(path: try linkedData(descriptor.digest))
    }

    public func blobFile(_ descriptor: Descriptor) -> String? { try? linkedData(descriptor.digest) }

    public func close() {}

    // MARK: Links

    /// The data file of a blob linked in one of the selected repositories (the error of the first one
    /// when none links it).
    private func linkedData(_ digest: Digest) throws -> String {
        var firstError: (any Error)?
        for repo in repositories {
            do { return try reader.linkedData(digest, in: repo) } catch { firstError = firstError ?? error }
        }
        throw firstError ?? BaleError(.notFound, "\(name): \(digest) is in no repository")
    }

    // MARK: Walks

    /// The repositories under `root`, walked as catalog.go walks them: a repository is named by its
    /// path from `root`, its other subdirectories may be repositories too, `_`-prefixed directories are
    /// not entered, and the order is component by component (`lessPath`). The mark is `_manifests`,
    /// where the tags are (the v2.8 catalog marks by `_layers`, which every pushed image has as well;
    /// a directory with only `_layers` has no tag to read).
    static func repositories(under root: String) throws -> [String] {
        var found: [String] = []
        var pending: [String] = [""]
        while let relative = pending.popLast() {
            let names = try entries(relative.isEmpty ? root : root + "/" + relative)
            if !relative.isEmpty && names.contains("_manifests") { found.append(relative) }
            for child in names where !child.hasPrefix("_") {
                let path = relative.isEmpty ? child : relative + "/" + child
                // lstat: a symbolic link is not entered (a link to a parent would name the same
                // repository again and again).
                var st = stat()
                if lstat(root + "/" + path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { pending.append(path) }
            }
        }
        return found.sorted { $0.split(separator: "/").lexicographicallyPrecedes($1.split(separator: "/")) }
    }

    /// The names in a directory, sorted; none when it does not exist.
    static func entries(_ path: String) throws -> [String] {
        guard access(path, F_OK) == 0 else { return [] }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw BaleError(.io, "\(path): cannot list the directory", cause: error)
        }
    }
}

/// Reads a tree as the registry would serve it: tags, revisions and links, checked on the way.
private struct TreeReader: Sendable {
    let tree: RegistryTree
    let name: String

    // MARK: Selection

    /// The image a tag names now: its `current/link`, which must lead to a revision of the repository.
    func tagged(_ repo: String, _ tag: String) throws -> SourceImage {
        let what = "\(name): repository \(repo): tag \(tag)"
        guard let digest = try RegistryTree.readLink(tree.tagCurrentLink(repo, tag), what: what) else {
            throw BaleError(.notFound, "\(what): no such tag (no \(tree.tagCurrentLink(repo, tag)))")
        }
        let reference: Reference
        do {
            reference = try Reference(parsing: "\(repo):\(tag)")
        } catch let error as BaleError {
            throw BaleError(.invalidReference, "\(what): \(error.message)")
        }
        return SourceImage(descriptor: try rootDescriptor(repo, digest), names: [reference])
    }

    /// The descriptor of a manifest or index the repository holds as a revision: size from its data
    /// file, media type from its JSON as the registry decides it (manifeststore.go `Get`: the
    /// `mediaType` field; without one an index when it has `manifests`, else an OCI manifest).
    func rootDescriptor(_ repo: String, _ digest: Digest) throws -> Descriptor {
        let path = try linkedData(digest, in: repo)
        let data: Data
        do {
            data = try RegularFile.read(path, limit: JSON.maxDocumentSize + 1)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(name): repository \(repo): \(digest): \(error.message)")
        }
        struct Shape: Decodable { let mediaType: MediaType?; let manifests: [Descriptor]? }
        let shape = try JSON.decode(Shape.self, from: data, what: "\(name): repository \(repo): \(digest)")
        let type = shape.mediaType ?? (shape.manifests != nil ? .ociIndex : .ociManifest)
        let descriptor = Descriptor(mediaType: type, digest: digest, size: Int64(data.count))
        try descriptor.verify(data, in: "\(name): repository \(repo)")
        return descriptor
    }

    /// The data file of a blob the repository links, as a revision or as a layer, after checking the
    /// link holds that digest and the data is there.
    func linkedData(_ digest: Digest, in repo: String) throws -> String {
        let what = "\(name): repository \(repo): \(digest)"
        var found: Digest?
        for link in [tree.revisionLink(repo, digest), tree.layerLink(repo, digest)] {
            guard let linked = try RegistryTree.readLink(link, what: what) else { continue }
            guard linked == digest else { throw BaleError(.integrity, "\(what): \(link) links \(linked)") }
            found = linked
            break
        }
        guard found != nil else {
            throw BaleError(.notFound, "\(what): not linked in the repository (no _manifests/revisions or _layers link)")
        }
        let data = tree.blobData(digest)
        guard access(data, F_OK) == 0 else {
            throw BaleError(.notFound, "\(what): linked, but the blob data is missing (\(data))")
        }
        return data
    }
}
