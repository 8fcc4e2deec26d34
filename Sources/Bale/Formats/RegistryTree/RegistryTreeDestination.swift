import BaleCore
import BaleIO
import Foundation

/// A registry storage tree as a destination (`registry-tree:DIR[:NAME[:TAG]]`, layout in
/// RegistryTreeFormat.swift): what a registry then serves as if the images had been pushed to it. An
/// existing tree is merged into: other repositories and tags are left alone, a tag written again moves
/// (its old digest stays in the tag's `index`, as the registry keeps it).
///
/// A registry may serve the tree (read-only) while bale writes, so no client may see half an image:
/// - blob `data` goes in as it comes: temp file beside `data`, verified while written, fsync, rename
///   (the registry skips any file of a blob directory not named `data`). Data without a link is
///   invisible to clients;
/// - at commit, the links, each written atomically (temp file beside it, fsync, rename): `_layers`
///   first, then `_manifests/revisions` children before their index, then per tag the `index` link
///   and `current/link` last. A new tag's folder is made under a hidden name in `_manifests` and renamed
///   into `tags/` whole, so `tags/list` never names a tag that does not resolve yet.
///
/// `abort()`, and a commit that fails, take back every link this copy wrote (a moved tag points where
/// it pointed before). Blob data files already renamed in stay: they are content-addressed, invisible
/// without a link, and deleting one could pull it from under a registry that has just linked the same
/// blob; the registry's garbage collection removes those nothing links.
///
/// Without NAME an image goes to the repository of its name's path and keeps its tag
/// (`docker.io/library/alpine:3` → `library/alpine`, tag `3`; `localhost:5000/team/app:1` →
/// `team/app`): a tree has no host, and the registry that serves it is the image's registry from then
/// on, so the host a name had elsewhere is dropped, as a `docker push` to that registry would store it.
public final class RegistryTreeDestination: ImageDestination, @unchecked Sendable {
    // Sendable: `documents`, `pending` and `undo` are guarded by `mutex`; puts may run concurrently.
    let tree: RegistryTree
    private let target: (repository: String, tag: String)?
    private let createdRoot: Bool
    private let mutex = NSLock()
    /// The documents of this copy, read back at commit to learn which blobs are manifests.
    private var documents: [Digest: Data] = [:]
    private var pending: [SourceImage] = []
    private var referrers: [(referrer: Referrer, image: SourceImage)] = []
    /// What commit changed, oldest first, to take back on abort.
    private var undo: [Change] = []
    public let name: String
    public let properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: true)

    private enum Change {
        /// A link file written: its previous bytes, or nil when it was new.
        case link(path: String, previous: Data?)
        /// A new tag's folder renamed into `tags/`.
        case tag(path: String)
    }

    /// `reference`: the NAME[:TAG] of the location (tag `latest` when left out), the repository
    /// and tag of the single image written.
    public init(root: String, reference: String?) throws {
        tree = RegistryTree(root: root)
        name = "registry-tree:\(root)"
        if let reference {
            let (repo, tag, digest) = try RegistryTree.parse(reference, location: name)
            guard digest == nil else {
                throw BaleError(.usage, "\(name): a destination takes NAME[:TAG], not a digest (the digest is the image's own)")
            }
            target = (repo, tag ?? "latest")
        } else {
            target = nil
        }
        createdRoot = access(root, F_OK) != 0
        do {
            try FileManager.default.createDirectory(atPath: tree.base + "/blobs/sha256", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: tree.repositoriesPath, withIntermediateDirectories: true)
        } catch {
            throw BaleError(.io, "\(name): cannot create \(tree.base)", cause: error)
        }
    }

    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        BlobFile.isIntact(tree.blobData(digest), digest: digest, size: size, verify: false)
    }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        guard let expected else {
            throw BaleError(.internal, "\(name): a blob of unknown digest was put (the copier stages streaming sources)")
        }
        if contains(expected.digest, size: expected.size) { return (expected.digest, expected.size) }
        let directory = tree.blobDirectory(expected.digest)
        try makeDirectory(directory)
        return try BlobFile.write(reader, expected: expected, temporaryDirectory: directory) { tree.blobData($0) }
    }

    public func putDocument(_ bytes: Data, descriptor: Descriptor) throws {
        _ = try putBlob(DataReader(bytes), expected: descriptor)
        mutex.withLock { documents[descriptor.digest] = bytes }
    }

    public func addImage(_ image: SourceImage) throws {
        try mutex.withLock {
            if target != nil && !pending.isEmpty {
                throw BaleError(.usage, "\(name): one name was given but several images were copied; leave the name out")
            }
            if target == nil && image.names.isEmpty {
                throw BaleError(.usage, "\(name): image \(image.descriptor.digest) has no name; give one (registry-tree:DIR:NAME:TAG)")
            }
            pending.append(image)
        }
    }

    /// Referrers are kept as the registry keeps what is pushed to it: revisions in the image's
    /// repositories (the registry, and `bale serve`, list a revision with a `subject` among its
    /// subject's referrers), and a cosign attachment's tag.
    public var holdsReferrers: Bool { true }

    public func addReferrer(_ referrer: Referrer, of image: SourceImage) throws {
        mutex.withLock { referrers.append((referrer, image)) }
    }

    public func commit() throws {
        let (images, documents, referrers) = mutex.withLock { (pending, self.documents, self.referrers) }
        // Where each image goes, refusing two images for one tag.
        var tags: [(repository: String, tag: String, digest: Digest)] = []
        var claimed: [String: Digest] = [:]
        for image in images {
            let places = target.map { [$0] } ?? image.names.map { ($0.path, $0.tag ?? "latest") }
            for (repo, tag) in places {
                if let other = claimed["\(repo):\(tag)"], other != image.descriptor.digest {
                    throw BaleError(.conflict, "\(name): two images for \(repo):\(tag) (\(other) and \(image.descriptor.digest))")
                }
                claimed["\(repo):\(tag)"] = image.descriptor.digest
                tags.append((repo, tag, image.descriptor.digest))
            }
        }
        // Per repository: the blobs to link in `_layers`, and the manifests and indexes, children first.
        var layers: [String: [Digest]] = [:]
        var revisions: [String: [Digest]] = [:]
        for image in images {
            let (blobs, manifests) = try graph(of: image.descriptor, documents: documents)
            for (repo, _, digest) in tags where digest == image.descriptor.digest {
                layers[repo, default: []] += blobs
                revisions[repo, default: []] += manifests
            }
        }
        for (referrer, image) in referrers {
            let (blobs, manifests) = try graph(of: referrer.descriptor, documents: documents)
            let repos = Set(tags.filter { $0.digest == image.descriptor.digest }.map(\.repository))
            for repo in repos.sorted() {
                layers[repo, default: []] += blobs
                revisions[repo, default: []] += manifests
                if let tag = referrer.tag { tags.append((repo, tag, referrer.descriptor.digest)) }
            }
        }
        for (repo, digests) in layers.sorted(by: { $0.key < $1.key }) {
            for digest in digests { try writeLink(tree.layerLink(repo, digest), digest) }
        }
        for (repo, digests) in revisions.sorted(by: { $0.key < $1.key }) {
            for digest in digests { try writeLink(tree.revisionLink(repo, digest), digest) }
        }
        for (repo, tag, digest) in tags { try writeTag(repo, tag, digest) }
    }

    /// The link files and new tag folders this copy has written, in the order written (for the tests
    /// of that order).
    var written: [String] {
        mutex.withLock {
            undo.map { change in
                switch change {
                case .link(let path, _), .tag(let path): path
                }
            }
        }
    }

    public func abort() {
        let changes = mutex.withLock { undo }
        for change in changes.reversed() {
            switch change {
            case .link(let path, let previous?): try? BlobFile.replace(path, with: previous)
            case .link(let path, nil): unlink(path)
            case .tag(let path): try? FileManager.default.removeItem(atPath: path)
            }
        }
        mutex.withLock { undo = [] }
        if createdRoot { try? FileManager.default.removeItem(atPath: tree.root) }
    }

    // MARK: Graph

    /// The blobs of an image's graph that the registry serves from `/blobs/` (configs, layers), and its
    /// manifests and indexes, children before parents. An index child this copy left out (an
    /// attestation, another platform) has no data here and gets no link.
    private func graph(of root: Descriptor, documents: [Digest: Data]) throws -> (blobs: [Digest], manifests: [Digest]) {
        var blobs: [Digest] = []
        var manifests: [Digest] = []
        try ImageGraph.walk([root], read: { documents[$0.digest] }) { descriptor, node in
            switch node {
            case .index, .manifest:
                manifests.append(descriptor.digest)
            case .leaf:
                let unread = descriptor.mediaType.isManifest || descriptor.mediaType.isIndex
                if !unread && contains(descriptor.digest, size: descriptor.size) { blobs.append(descriptor.digest) }
            }
            return true
        }
        return (blobs, manifests.reversed())
    }

    // MARK: Links

    /// Writes a link file atomically unless it already holds `digest`; records what it replaced.
    private func writeLink(_ path: String, _ digest: Digest) throws {
        let content = RegistryTree.linkContent(digest)
        let previous = FileManager.default.contents(atPath: path)
        if previous == content { return }
        try makeDirectory((path as NSString).deletingLastPathComponent)
        mutex.withLock { undo.append(.link(path: path, previous: previous)) }
        try BlobFile.replace(path, with: content)
    }

    /// Points a tag at `digest`: the tag's `index` link, then `current/link`. A new tag is built under a
    /// hidden name beside `tags/` and renamed in whole, so it appears resolvable or not at all.
    private func writeTag(_ repo: String, _ tag: String, _ digest: Digest) throws {
        let tagPath = tree.tagPath(repo, tag)
        if access(tagPath, F_OK) != 0 {
            let manifestsPath = (tree.tagsPath(repo) as NSString).deletingLastPathComponent
            let staging = "\(manifestsPath)/.bale-tag-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            do {
                let indexLink = RegistryTree.indexLink(inTag: staging, digest)
                let currentLink = RegistryTree.currentLink(inTag: staging)
                try makeDirectory((indexLink as NSString).deletingLastPathComponent)
                try BlobFile.replace(indexLink, with: RegistryTree.linkContent(digest))
                try makeDirectory((currentLink as NSString).deletingLastPathComponent)
                try BlobFile.replace(currentLink, with: RegistryTree.linkContent(digest))
                try makeDirectory(tree.tagsPath(repo))
                if rename(staging, tagPath) == 0 {
                    mutex.withLock { undo.append(.tag(path: tagPath)) }
                    syncDirectory(tree.tagsPath(repo))
                    return
                }
                // Another writer made the tag meanwhile: write into it as into any existing tag.
                guard errno == EEXIST || errno == ENOTEMPTY else {
                    throw BaleError.posix("cannot move the new tag \(tag) into place", path: tagPath)
                }
                try? FileManager.default.removeItem(atPath: staging)
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                throw error
            }
        }
        try writeLink(tree.tagIndexLink(repo, tag, digest), digest)
        try writeLink(tree.tagCurrentLink(repo, tag), digest)
    }

    private func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BaleError(.io, "\(name): cannot create \(path)", cause: error)
        }
    }

    private func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
