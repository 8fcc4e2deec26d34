import BaleCore
import BaleIO
import Foundation

/// A registry repository as a destination. Blobs go up as the copier hands them over (several at once):
/// one the repository holds is skipped (`HEAD`), one another repository of the registry holds is
/// mounted, the rest uploaded (RegistryClient.upload). Manifests are put by digest, children first; the
/// tag is put at `commit`, last, so an interrupted push leaves the tag as it was, and a rerun skips the
/// blobs already there.
public final class RegistryDestination: ImageDestination, @unchecked Sendable {
    // @unchecked Sendable: `mounted`, `manifests`, `roots` and `others` are guarded by `lock`.
    public let name: String
    public let properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: true)
    private let client: RegistryClient
    private let image: Reference
    private let lock = NSLock()
    private var mounted: [Digest: String] = [:]
    private var manifests: [Digest: Data] = [:]
    private var roots: [SourceImage] = []
    private var referrers: [Referrer] = []

    /// Repositories tried for a mount per blob, at most.
    static let mountAttempts = 3

    /// `image`: the repository, and the tag or digest the image is put under (without either, the
    /// image's own tag, else `latest`).
    public init(image: Reference, options: RegistryOptions) throws {
        self.image = image
        name = "docker://\(image)"
        client = try RegistryClient(host: image.domain, repository: image.path, options: options, push: true)
    }

    /// Held in the repository, or mounted into it now from one that holds it.
    public func contains(_ digest: Digest, size: Int64?) -> Bool {
        if (try? client.blobExists(digest)) == true {
            noteHeld(digest)
            return true
        }
        let known = BlobOrigins.shared.repositories(host: client.host, holding: digest).filter { $0 != client.repository }
        for repository in known.prefix(Self.mountAttempts) where (try? client.mount(digest, from: repository)) == true {
            lock.withLock { mounted[digest] = repository }
            noteHeld(digest)
            return true
        }
        // Repositories that may hold it: asked first (a HEAD opens no upload session), mounted from
        // only when they do.
        let maybe = BlobOrigins.shared.candidates(host: client.host).filter { $0 != client.repository && !known.contains($0) }
        for repository in maybe.prefix(Self.candidateLimit) {
            guard let other = try? otherClient(repository), (try? other.blobExists(digest)) == true,
                  (try? client.mount(digest, from: repository)) == true else { continue }
            BlobOrigins.shared.note(host: client.host, repository: repository, digests: [digest])
            lock.withLock { mounted[digest] = repository }
            noteHeld(digest)
            return true
        }
        return false
    }

    /// Candidate repositories asked per blob, at most.
    static let candidateLimit = 8
    private var others: [String: RegistryClient] = [:]

    /// A pull client for another repository of the registry (to ask whether it holds a blob).
    private func otherClient(_ repository: String) throws -> RegistryClient {
        if let known = lock.withLock({ others[repository] }) { return known }
        let made = try RegistryClient(host: client.host, repository: repository, options: client.options)
        lock.withLock { others[repository] = made }
        return made
    }

    public func origin(of digest: Digest) -> String? { lock.withLock { mounted[digest] } }

    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        guard let expected else {
            throw BaleError(.unsupported, "\(name): a registry needs a blob's digest before its bytes")
        }
        try client.upload(reader, expected)
        noteHeld(expected.digest)
        return (expected.digest, expected.size)
    }

    /// Configs go up as blobs (unless held); manifests and indexes are put by digest, and kept for the
    /// tag put at commit.
    public func putDocument(_ bytes: Data, descriptor: Descriptor) throws {
        try descriptor.verify(bytes, in: name)
        if RegistryClient.manifestTypes.contains(descriptor.mediaType.rawValue) {
            try client.putManifest(bytes, descriptor: descriptor, reference: descriptor.digest.string)
            lock.withLock { manifests[descriptor.digest] = bytes }
        } else if !contains(descriptor.digest, size: descriptor.size) {
            try putBlob(DataReader(bytes), expected: descriptor)
        }
    }

    public func addImage(_ image: SourceImage) throws {
        try lock.withLock {
            guard roots.isEmpty else {
                throw BaleError(.usage, "\(name): a repository reference takes one image; the source selects several")
            }
            roots.append(image)
        }
    }

    /// Referrer manifests go up by digest after their subject's (`putDocument`, in the copier's
    /// order); at commit a cosign attachment gets its tag, and an OCI 1.1 referrer is added to its
    /// subject's fallback tag index where the registry has no referrers API to list it.
    public var holdsReferrers: Bool { true }

    public func addReferrer(_ referrer: Referrer, of image: SourceImage) throws {
        lock.withLock { referrers.append(referrer) }
    }

    /// Puts the tag: the one step that makes the push visible under its name; then the referrers'.
    public func commit() throws {
        guard let root = lock.withLock({ roots.first }) else { return }
        if let digest = image.digest {
            guard digest == root.descriptor.digest else {
                throw BaleError(.conflict, "\(name): the image copied is \(root.descriptor.digest), not \(digest)")
            }
        } else {
            let tag = image.tag ?? root.names.first?.tag ?? "latest"
            guard let bytes = lock.withLock({ manifests[root.descriptor.digest] }) else {
                throw BaleError(.internal, "\(name): manifest \(root.descriptor.digest) was not put")
            }
            try client.putManifest(bytes, descriptor: root.descriptor, reference: tag)
        }
        var hasAPI: Bool?
        for referrer in lock.withLock({ referrers }) {
            guard let bytes = lock.withLock({ manifests[referrer.descriptor.digest] }) else {
                throw BaleError(.internal, "\(name): referrer \(referrer.descriptor.digest) was not put")
            }
            if let tag = referrer.tag {
                try client.putManifest(bytes, descriptor: referrer.descriptor, reference: tag)
                continue
            }
            let api = try hasAPI ?? client.hasReferrersAPI(referrer.subject)
            hasAPI = api
            if !api { try client.addToFallbackIndex(referrer.descriptor, subject: referrer.subject) }
        }
    }

    /// Nothing to undo: blobs and manifests put by digest are invisible without the tag.
    public func abort() {}

    private func noteHeld(_ digest: Digest) {
        BlobOrigins.shared.note(host: client.host, repository: client.repository, digests: [digest])
    }
}
