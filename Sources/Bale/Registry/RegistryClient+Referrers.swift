import AsyncHTTPClient
import BaleCore
import BaleIO
import Foundation
import NIOHTTP1

// The OCI 1.1 referrers of a manifest (distribution-spec "Listing Referrers"), and keeping them where the
// registry has no referrers API (the referrers tag schema).

extension RegistryClient {
    /// The descriptors of the manifests whose `subject` is `digest`: the referrers API's index, or,
    /// where the registry answers it otherwise (404 from docker-registry 2.8), the index under the fallback tag
    /// `sha256-<hex>`, which OCI clients keep up to date there; none when neither exists.
    public func referrers(of digest: Digest) throws -> [Descriptor] {
        let what = "referrers of \(digest)"
        let response = try send(.GET, url("referrers/\(digest)"), what: what)
        if response.status == 200 {
            let bytes = try response.body(limit: JSON.maxDocumentSize)
            return try JSON.decode(Index.self, from: bytes, what: "\(display): \(what)").manifests
        }
        // Any other answer (404 from docker-registry 2.8, 400/405/401 from registries that do not
        // know the route) means no referrers API: the fallback tag is where an OCI client kept them.
        response.discard()
        return try fallbackIndex(of: digest)?.manifests ?? []
    }

    /// Whether the registry has the referrers API (it answers `GET referrers/<digest>` with 200).
    public func hasReferrersAPI(_ digest: Digest) throws -> Bool {
        let response = try send(.GET, url("referrers/\(digest)"), what: "referrers of \(digest)")
        response.discard()
        return response.status == 200
    }

    /// The index under `digest`'s fallback tag; nil when there is none.
    func fallbackIndex(of digest: Digest) throws -> Index? {
        let tag = Referrer.fallbackTag(for: digest)
        let what = "manifest \(tag)"
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.ociIndex.rawValue)
        let head = try send(.HEAD, url("manifests/\(tag)"), headers: headers, what: what)
        head.discard()
        guard head.status == 200 else { return nil }
        let (_, bytes) = try manifest(tag)
        return try JSON.decode(Index.self, from: bytes, what: "\(display): \(what)")
    }

    /// Adds `referrer` to the fallback tag's index of its subject (creating it), as the referrers tag
    /// schema asks of a client pushing to a registry without the referrers API.
    public func addToFallbackIndex(_ referrer: Descriptor, subject: Digest) throws {
        var index = try fallbackIndex(of: subject) ?? Index(mediaType: .ociIndex, manifests: [])
        guard !index.manifests.contains(where: { $0.digest == referrer.digest }) else { return }
        index.manifests.append(referrer)
        let bytes = try JSON.canonical(index)
        let descriptor = Descriptor(mediaType: .ociIndex, digest: SHA256Hasher.digest(bytes), size: Int64(bytes.count))
        try putManifest(bytes, descriptor: descriptor, reference: Referrer.fallbackTag(for: subject))
    }
}
