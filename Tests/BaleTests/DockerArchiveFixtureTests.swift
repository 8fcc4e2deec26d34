import Bale
import BaleCore
import BaleIO
import Foundation
import TestSupport
import Testing

/// The checked-in fixture generator (testdata/docker-archive/make-fixtures.py): each of the three
/// archive forms it writes loads to the image IDs, names and manifest digests it computed itself.
@Suite struct DockerArchiveFixtureTests {
    struct Expected: Decodable {
        let id: Digest
        let names: [String]
        let manifest: Digest?
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("testdata/docker-archive/make-fixtures.py").path
    }

    /// Runs the generator into `dir` and returns its summary.
    static func generate(into dir: String) throws -> [String: [Expected]] {
        let result = try ProcessRunner.run(["python3", script, dir])
        try #require(result.succeeded, "\(result)")
        return try JSONDecoder().decode([String: [Expected]].self, from: result.stdout)
    }

    @Test(arguments: ["legacy.tar", "docker25.tar", "containerd.tar"])
    func fixtureLoadsWithTheGeneratorsIDs(_ archive: String) throws {
        let dir = try DAKit.TempDir()
        let summary = try Self.generate(into: dir.path)
        let expected = try #require(summary[archive])
        #expect(!expected.isEmpty)

        var digests: [[Digest]] = []
        for _ in 0 ..< 2 {
            let f = try StoreFixture()
            let report = try DAKit.load(path: dir.file(archive), into: f.store)
            #expect(report.images.count == expected.count)
            for (image, want) in zip(report.images, expected) {
                // Names as the archive gives them, normalised.
                let names = try want.names.map { try Reference(parsing: $0).withDefaultTag() }
                #expect(image.names.sorted() == names.sorted())
                // (containerd.tar's image is an index of which one platform is kept, as its manifest.)
                if let manifest = want.manifest, archive != "containerd.tar" { #expect(image.descriptor.digest == manifest) }
                // The image ID: the config of the manifest (for an index, the amd64 one) bale stored.
                var bytes = try f.store.readDocument(image.descriptor)
                if let index = try? JSONDecoder().decode(Index.self, from: bytes) {
                    let child = try #require(index.manifests.first { $0.platform?.architecture == "amd64" })
                    bytes = try f.store.readDocument(child)
                }
                let manifest = try JSON.decode(Manifest.self, from: bytes, what: "manifest")
                #expect(manifest.config.digest == want.id)
            }
            digests.append(report.images.map(\.descriptor.digest))
        }
        // Synthesised manifests are deterministic: the same archive gives the same digests.
        #expect(digests[0] == digests[1])
    }

    @Test func generatorIsDeterministic() throws {
        let one = try DAKit.TempDir()
        let two = try DAKit.TempDir()
        _ = try Self.generate(into: one.path)
        _ = try Self.generate(into: two.path)
        for archive in ["legacy.tar", "docker25.tar", "containerd.tar"] {
            let a = try #require(FileManager.default.contents(atPath: one.file(archive)))
            #expect(a == FileManager.default.contents(atPath: two.file(archive)), "\(archive)")
        }
    }
}
