import BaleCore
import BaleIO
import Foundation

/// A registry as a source: one image by tag or digest, or (no name) every repository and tag of its
/// catalog. Manifests are verified against the digest asked for or resolved (RegistryClient.manifest),
/// documents against their descriptors; blobs stream and the copier verifies them.
///
/// Docker Hub names are tried on each mirror of `RegistryOptions.mirrors` in order, then on Docker
/// Hub; `servedBy` says which one answered.
public final class RegistrySource: ImageSource, @unchecked Sendable {
    // @unchecked Sendable: `clients` and `known` are guarded by `lock`; the rest is immutable.
    public let name: String
    /// The registry (or mirror URL) that served the image.
    public let servedBy: String
    private let selected: [SourceImage]
    private let lock = NSLock()
    /// Which repository each digest came from (children are noted as their parents are read).
    private var clients: [Digest: RegistryClient] = [:]
    /// Manifests already fetched, by digest.
    private var known: [Digest: Data] = [:]
    /// The cosign tags of each repository read (`referrers(of:)`).
    private var tagLists: [String: [String]] = [:]

    /// Opens `image` on `host`, or with `image` nil the whole catalog of `host`.
    public init(host: String, image: Reference?, options: RegistryOptions) throws {
        guard let image else {
            name = "docker://\(host)"
            servedBy = host
            var images: [SourceImage] = []
            var fetched: [(Descriptor, Data, RegistryClient)] = []
            for repository in try RegistryClient.catalog(host: host, options: options) {
                let client = try RegistryClient(host: host, repository: repository, options: options)
                // Cosign attachments and referrer fallback indexes ride along with their image.
                for tag in try client.tags().sorted() where !Referrer.isReferrerTag(tag) {
                    let (descriptor, bytes) = try client.manifest(tag)
                    fetched.append((descriptor, bytes, client))
                    images.append(SourceImage(descriptor: descriptor,
                                              names: [Reference(domain: host, path: repository, tag: tag, digest: nil)]))
                }
            }
            selected = images
            for (descriptor, bytes, client) in fetched { note(descriptor, bytes, from: client) }
            return
        }
        name = "docker://\(image)"
        let wanted = image.digest?.string ?? image.tag ?? "latest"
        var failures: [String] = []
        var found: (RegistryClient, Descriptor, Data, String)?
        for mirror in image.domain == "docker.io" ? options.mirrors : [] {
            do {
                let client = try RegistryClient(host: image.domain, repository: image.path, options: options, mirror: mirror)
                let (descriptor, bytes) = try client.manifest(wanted)
                found = (client, descriptor, bytes, mirror)
                break
            } catch {
                failures.append("\(mirror): \(error)")
            }
        }
        if found == nil {
            do {
                let client = try RegistryClient(host: image.domain, repository: image.path, options: options)
                let (descriptor, bytes) = try client.manifest(wanted)
                found = (client, descriptor, bytes, image.domain)
            } catch let error as BaleError where !failures.isEmpty {
                throw BaleError(error.code, ([error.message] + failures.map { "mirror \($0)" }).joined(separator: "; "))
            }
        }
        guard let (client, descriptor, bytes, server) = found else {
            throw BaleError(.internal, "\(name): no registry answered")
        }
        servedBy = server
        let names = image.digest == nil ? [image.withDefaultTag()] : []
        selected = [SourceImage(descriptor: descriptor, names: names)]
        note(descriptor, bytes, from: client)
    }

    public func images() throws -> [SourceImage] { selected }

    public func document(_ descriptor: Descriptor) throws -> Data {
        let (client, cached) = try lock.withLock { () -> (RegistryClient, Data?) in
            guard let client = clients[descriptor.digest] else {
                throw BaleError(.internal, "\(name): \(descriptor.digest) is not part of an image read here")
            }
            return (client, known[descriptor.digest])
        }
        if let cached {
            try descriptor.verify(cached, in: client.display)
            return cached
        }
        let bytes = try client.document(descriptor)
        note(descriptor, bytes, from: client)
        return bytes
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        guard let client = lock.withLock({ clients[descriptor.digest] }) else {
            throw BaleError(.internal, "\(name): \(descriptor.digest) is not part of an image read here")
        }
        BlobOrigins.shared.note(host: client.host, repository: client.repository, digests: [descriptor.digest])
        return client.openBlob(descriptor)
    }

    /// Whether a digest is part of what this source has read (an image, a referrer, their children).
    public func holds(_ digest: Digest) -> Bool { lock.withLock { clients[digest] != nil } }

    /// The referrers API (or its fallback tag) of the repository `digest` came from, and its cosign
    /// tags (`sha256-<hex>.sig`, …; the tag list is read once per repository).
    public func referrers(of digest: Digest) throws -> [Referrer] {
        guard let client = lock.withLock({ clients[digest] }) else { return [] }
        var found: [Referrer] = []
        for listed in try client.referrers(of: digest) {
            let bytes = try client.manifest(listed.digest.string).bytes
            let descriptor = Descriptor(mediaType: listed.mediaType, digest: listed.digest, size: Int64(bytes.count))
            note(descriptor, bytes, from: client)
            let (entry, subject) = Referrer.listed(descriptor, document: bytes)
            guard subject == digest else { continue } // a stale fallback index entry
            found.append(Referrer(descriptor: entry, subject: digest))
        }
        for tag in try cosignTags(client) where Referrer.cosignSubject(ofTag: tag) == digest {
            let (descriptor, bytes) = try client.manifest(tag)
            note(descriptor, bytes, from: client)
            found.append(Referrer(descriptor: Referrer.listed(descriptor, document: bytes).descriptor, subject: digest, tag: tag))
        }
        return found
    }

    /// The cosign attachment tags of the client's repository, listed once (a registry that refuses the
    /// tag list has none to give).
    private func cosignTags(_ client: RegistryClient) throws -> [String] {
        if let known = lock.withLock({ tagLists[client.repository] }) { return known }
        let tags = ((try? client.tags()) ?? []).filter { Referrer.cosignSubject(ofTag: $0) != nil }.sorted()
        lock.withLock { tagLists[client.repository] = tags }
        return tags
    }

    public func close() {}

    /// Records where a document came from and where its children are to be fetched.
    private func note(_ descriptor: Descriptor, _ bytes: Data, from client: RegistryClient) {
        struct Children: Decodable {
            var manifests: [Descriptor]?
            var config: Descriptor?
            var layers: [Descriptor]?
        }
        let children = (try? JSONDecoder().decode(Children.self, from: bytes)).map {
            ($0.manifests ?? []) + ($0.config.map { [$0] } ?? []) + ($0.layers ?? [])
        } ?? []
        lock.withLock {
            clients[descriptor.digest] = client
            if RegistryClient.manifestTypes.contains(descriptor.mediaType.rawValue) { known[descriptor.digest] = bytes }
            for child in children where clients[child.digest] == nil { clients[child.digest] = client }
        }
        BlobOrigins.shared.note(host: client.host, repository: client.repository, digests: [descriptor.digest])
    }
}
