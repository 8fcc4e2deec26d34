import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// Copies whose source is the store: into the store itself, and out of it with multi-platform indexes.
@Suite struct StoreCopyTests {
    /// A two-platform index (linux/amd64 and linux/arm64, one layer each) named `name` in the store.
    static func putIndex(_ fixture: StoreFixture, name: String) throws -> (index: Descriptor, manifests: [Descriptor]) {
        var children: [Descriptor] = []
        for arch in ["amd64", "arm64"] {
            let layer = Data("layer for \(arch)".utf8)
            let layerDigest = try fixture.store.putBlob(layer)
            var config = ImageConfig(architecture: arch, os: "linux", rootfs: .init(diffIDs: [layerDigest]))
            config.created = "2024-05-01T10:00:00Z"
            let configBytes = try JSON.canonical(config)
            let manifest = Manifest(mediaType: .ociManifest,
                                    config: Descriptor(mediaType: .ociConfig, digest: try fixture.store.putBlob(configBytes),
                                                       size: Int64(configBytes.count)),
                                    layers: [Descriptor(mediaType: .ociLayer, digest: layerDigest, size: Int64(layer.count))])
            let bytes = try JSON.canonical(manifest)
            var child = Descriptor(mediaType: .ociManifest, digest: try fixture.store.putBlob(bytes), size: Int64(bytes.count))
            child.platform = Platform(os: "linux", architecture: arch)
            children.append(child)
        }
        let bytes = try JSON.canonical(Index(mediaType: .ociIndex, manifests: children))
        let index = Descriptor(mediaType: .ociIndex, digest: try fixture.store.putBlob(bytes), size: Int64(bytes.count))
        try fixture.store.addImage(index, names: [try Reference(parsing: name)])
        return (index, children)
    }

    /// Runs `body` on another thread and fails (instead of hanging the suite) when it does not finish.
    static func finishes<T: Sendable>(within seconds: Int, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, any Error>?
        Thread {
            result = Result { try body() }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + .seconds(seconds)) == .success, let result else {
            throw BaleError(.internal, "still running after \(seconds) s")
        }
        return try result.get()
    }

    static func context(_ fixture: StoreFixture) -> LocationContext {
        let store = fixture.store
        return LocationContext(store: { store })
    }

    static func copy(_ from: String, _ to: String, _ fixture: StoreFixture, options: CopyOptions = CopyOptions()) throws -> CopyReport {
        let context = context(fixture)
        return try finishes(within: 60) {
            try Copier(options: options).copy(from: Location(parsing: from), to: Location(parsing: to), context: context)
        }
    }

    @Test func copyWithinTheStoreOnlyAddsTheName() throws {
        let fixture = try StoreFixture()
        let image = try fixture.image(layers: [Data("a".utf8), Data("b".utf8)], names: ["app:1"])
        let blobsBefore = try FileManager.default.contentsOfDirectory(atPath: fixture.root + "/blobs/sha256").sorted()
        let report = try Self.copy("app:1", "store:copy:2", fixture)
        #expect(report.blobsWritten == 0)
        let copied = try fixture.store.resolve("copy:2", in: fixture.store.images().images)
        #expect(copied.descriptor.digest == image.descriptor.digest)
        #expect(copied.names.map(\.string) == ["docker.io/library/app:1", "docker.io/library/copy:2"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.root + "/blobs/sha256").sorted() == blobsBefore)
    }

    @Test func copyWithinTheStoreWithAPlatformNarrowsAnIndex() throws {
        let fixture = try StoreFixture()
        let (index, manifests) = try Self.putIndex(fixture, name: "multi:1")
        _ = try Self.copy("multi:1", "whole:1", fixture)
        var options = CopyOptions()
        options.platform = Platform(os: "linux", architecture: "arm64")
        _ = try Self.copy("multi:1", "arm:1", fixture, options: options)
        let images = try fixture.store.images().images
        #expect(try fixture.store.resolve("whole:1", in: images).descriptor.digest == index.digest)
        #expect(try fixture.store.resolve("arm:1", in: images).descriptor.digest == manifests[1].digest)
    }

    @Test func saveKeepsTheWholeIndexTheStoreHoldsUnlessAPlatformIsAsked() throws {
        let fixture = try StoreFixture()
        let (index, manifests) = try Self.putIndex(fixture, name: "multi:1")
        let out = fixture.root + "-out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try Self.copy("multi:1", "oci:\(out):whole", fixture)
        var options = CopyOptions()
        options.platform = Platform(os: "linux", architecture: "arm64")
        _ = try Self.copy("multi:1", "oci:\(out):arm", fixture, options: options)
        let layout = try JSON.decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/index.json")), what: "index")
        let byRef = Dictionary(layout.manifests.map { ($0.annotations?[Descriptor.Annotation.refName] ?? "", $0.digest) }) { a, _ in a }
        #expect(byRef["whole"] == index.digest)
        #expect(byRef["arm"] == manifests[1].digest)
        // The archive keeps it whole too, as `docker save` does with the containerd store.
        let tar = fixture.root + "-out.tar"
        defer { try? FileManager.default.removeItem(atPath: tar) }
        _ = try Self.copy("multi:1", "docker-archive:\(tar)", fixture)
        let other = try StoreFixture()
        _ = try Self.copy("docker-archive:\(tar)", "loaded:1", other, options: { var o = CopyOptions(); o.allPlatforms = true; return o }())
        #expect(try other.store.resolve("loaded:1", in: other.store.images().images).descriptor.digest == index.digest)
    }
}
