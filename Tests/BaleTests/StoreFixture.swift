import Bale
import BaleCore
import BaleIO
import Foundation

/// A temporary store and a way to put small synthetic images into it (layers are arbitrary bytes:
/// the store never looks inside them except for `verify --deep`).
final class StoreFixture {
    let root: String
    let store: Store

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-test-\(UUID().uuidString)").path
        store = try Store(root: root)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Puts an image with the given layer contents and returns its top descriptor and config digest.
    @discardableResult
    func image(layers: [Data], created: String = "2024-05-01T10:00:00Z", labels: [String: String]? = nil,
               names: [String] = []) throws -> (descriptor: Descriptor, id: Digest) {
        var layerDescriptors: [Descriptor] = []
        var diffIDs: [Digest] = []
        for data in layers {
            let d = try store.putBlob(data)
            layerDescriptors.append(Descriptor(mediaType: .ociLayer, digest: d, size: Int64(data.count)))
            diffIDs.append(d)
        }
        var config = ImageConfig(architecture: "amd64", os: "linux", rootfs: .init(diffIDs: diffIDs))
        config.created = created
        if let labels {
            var c = ContainerConfig()
            c.labels = labels
            config.config = c
        }
        let configBytes = try JSON.canonical(config)
        let configDigest = try store.putBlob(configBytes)
        let manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                                layers: layerDescriptors)
        let manifestBytes = try JSON.canonical(manifest)
        let descriptor = Descriptor(mediaType: .ociManifest, digest: try store.putBlob(manifestBytes),
                                    size: Int64(manifestBytes.count))
        try store.addImage(descriptor, names: names.map { try Reference(parsing: $0) })
        return (descriptor, configDigest)
    }

    var indexBytes: Data { FileManager.default.contents(atPath: root + "/index.json") ?? Data() }

    func blobExists(_ d: Digest) -> Bool { FileManager.default.fileExists(atPath: store.blobPath(d)) }
}
