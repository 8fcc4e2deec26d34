import Foundation
import Testing
@testable import BaleCore

@Suite("MediaType")
struct MediaTypeTests {
    @Test("constants are the spec strings")
    func constants() {
        #expect(MediaType.ociManifest.rawValue == "application/vnd.oci.image.manifest.v1+json")
        #expect(MediaType.ociIndex.rawValue == "application/vnd.oci.image.index.v1+json")
        #expect(MediaType.ociConfig.rawValue == "application/vnd.oci.image.config.v1+json")
        #expect(MediaType.ociLayerGzip.rawValue == "application/vnd.oci.image.layer.v1.tar+gzip")
        #expect(MediaType.dockerManifest.rawValue == "application/vnd.docker.distribution.manifest.v2+json")
        #expect(MediaType.dockerManifestList.rawValue == "application/vnd.docker.distribution.manifest.list.v2+json")
        #expect(MediaType.dockerConfig.rawValue == "application/vnd.docker.container.image.v1+json")
        #expect(MediaType.dockerLayerGzip.rawValue == "application/vnd.docker.image.rootfs.diff.tar.gzip")
        #expect(MediaType.ociEmpty.rawValue == "application/vnd.oci.empty.v1+json")
    }

    @Test("predicates", arguments: [
        // (type, manifest, index, config, layer, docker)
        (MediaType.ociManifest, true, false, false, false, false),
        (.dockerManifest, true, false, false, false, true),
        (.ociIndex, false, true, false, false, false),
        (.dockerManifestList, false, true, false, false, true),
        (.ociConfig, false, false, true, false, false),
        (.dockerConfig, false, false, true, false, true),
        (.ociLayer, false, false, false, true, false),
        (.ociLayerGzip, false, false, false, true, false),
        (.ociLayerZstd, false, false, false, true, false),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", false, false, false, true, false),
        (.dockerLayer, false, false, false, true, true),
        (.dockerLayerGzip, false, false, false, true, true),
        (.dockerForeignLayerGzip, false, false, false, true, true),
        (.ociLayoutHeader, false, false, false, false, false),
        (.ociEmpty, false, false, false, false, false),
        ("application/vnd.in-toto+json", false, false, false, false, false),
        ("", false, false, false, false, false),
    ] as [(MediaType, Bool, Bool, Bool, Bool, Bool)])
    func predicates(_ type: MediaType, _ manifest: Bool, _ index: Bool, _ config: Bool, _ layer: Bool,
                    _ docker: Bool) {
        #expect(type.isManifest == manifest)
        #expect(type.isIndex == index)
        #expect(type.isConfig == config)
        #expect(type.isLayer == layer)
        #expect(type.isDocker == docker)
    }

    @Test("unknown types are carried as they are")
    func unknown() throws {
        let t = try JSON.decode([MediaType].self, from: bytes(#"["application/x-whatever+json"]"#), what: "types")
        #expect(t == [MediaType("application/x-whatever+json")])
        #expect(t[0].description == "application/x-whatever+json")
        #expect(String(decoding: try JSON.canonical(t), as: UTF8.self) == #"["application/x-whatever+json"]"#)
    }
}
