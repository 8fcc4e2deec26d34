import Foundation

// A small, independent reader of OCI image layouts (index.json → manifest → config) that the
// interop tests use to compute what bale should show, without going through bale's own code.
//
//   DIR/index.json         manifests[].digest + annotations["org.opencontainers.image.ref.name"]
//   DIR/blobs/sha256/<hex> manifest { config, layers[] }, config { created, rootfs.diff_ids, history }

/// One image named in a layout's index.json, with the digests of the blobs it uses.
struct LayoutImage: Sendable {
    /// The `org.opencontainers.image.ref.name` annotation (nil when absent).
    var refName: String?
    var manifestDigest: String
    var manifestMediaType: String
    var configDigest: String
    var layerDigests: [String]
    var diffIDs: [String]
    var historyCount: Int
    var created: String?

    /// The 64 hex digits of the config digest (docker's full image ID without `sha256:`).
    var configHex: String { String(configDigest.dropFirst("sha256:".count)) }
    /// Docker's short IMAGE ID: the first 12 hex digits of the config digest.
    var shortID: String { String(configHex.prefix(12)) }
    /// Every blob the image needs: manifest, config and layers.
    var blobDigests: Set<String> { Set([manifestDigest, configDigest] + layerDigests) }
}

enum LayoutReader {
    private struct Descriptor: Decodable {
        var mediaType: String?
        var digest: String
        var annotations: [String: String]?
    }
    private struct IndexDocument: Decodable { var manifests: [Descriptor] }
    private struct ManifestDocument: Decodable {
        var mediaType: String?
        var config: Descriptor
        var layers: [Descriptor]
    }
    private struct ConfigDocument: Decodable {
        struct RootFS: Decodable {
            var diff_ids: [String]
        }
        struct History: Decodable {}
        var created: String?
        var rootfs: RootFS
        var history: [History]?
    }

    static let refNameKey = "org.opencontainers.image.ref.name"

    /// The path of a blob in the layout.
    static func blobURL(_ layout: URL, _ digest: String) throws -> URL {
        let parts = digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "sha256", parts[1].count == 64 else {
            throw HarnessError("not a sha256 digest: \(digest)")
        }
        return layout.appendingPathComponent("blobs/sha256/\(parts[1])")
    }

    /// The images of `layout/index.json`, in index order.
    static func images(in layout: URL) throws -> [LayoutImage] {
        let decoder = JSONDecoder()
        let index = try decoder.decode(
            IndexDocument.self, from: Data(contentsOf: layout.appendingPathComponent("index.json")))
        return try index.manifests.map { entry in
            let manifest = try decoder.decode(
                ManifestDocument.self, from: Data(contentsOf: blobURL(layout, entry.digest)))
            let config = try decoder.decode(
                ConfigDocument.self, from: Data(contentsOf: blobURL(layout, manifest.config.digest)))
            return LayoutImage(
                refName: entry.annotations?[refNameKey], manifestDigest: entry.digest,
                manifestMediaType: entry.mediaType ?? manifest.mediaType ?? "",
                configDigest: manifest.config.digest, layerDigests: manifest.layers.map(\.digest),
                diffIDs: config.rootfs.diff_ids, historyCount: config.history?.count ?? 0,
                created: config.created)
        }
    }

    /// The image whose ref name is `refName`; throws when there is none.
    static func image(_ refName: String, in layout: URL) throws -> LayoutImage {
        guard let image = try images(in: layout).first(where: { $0.refName == refName }) else {
            throw HarnessError("no image named \(refName) in \(layout.path)/index.json")
        }
        return image
    }

    /// The digests of the files under `layout/blobs/sha256/`.
    static func blobDigests(in layout: URL) throws -> Set<String> {
        let names = try FileManager.default.contentsOfDirectory(
            atPath: layout.appendingPathComponent("blobs/sha256").path)
        return Set(names.map { "sha256:" + $0 })
    }
}
