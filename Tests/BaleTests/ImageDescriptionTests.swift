@testable import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// What `inspect`, `history`, `diff` and the reading commands compute, tested in the library.
@Suite struct ImageDescriptionTests {
    typealias S = RootfsTestSupport

    static func withStore<T>(_ body: (Store, String) throws -> T) throws -> T {
        let dir = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(try Store(root: dir + "/store"), dir)
    }

    static func options(_ message: String? = nil) -> RootfsImageOptions {
        var o = RootfsImageOptions(compression: GzipSettings(level: 1, jobs: 1))
        o.sourceDateEpoch = 1_700_000_000
        o.message = message
        o.changes = ["CMD [\"/bin/sh\"]", "LABEL a=b"]
        return o
    }

    @Test func describesAnImportedImageAsDockerDoes() throws {
        try Self.withStore { store, dir in
            try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
            try Data("hi\n".utf8).write(to: URL(fileURLWithPath: dir + "/src/f"))
            var o = Self.options()
            o.names = [try Reference(parsing: "app:1")]
            let result = try store.importRootfs(.directory(dir + "/src"), options: o)
            let image = try store.resolve("app:1", in: store.images().images)
            let d = try store.describe(image)
            #expect(d.id == result.id.string)
            #expect(d.repoTags == ["app:1"])
            #expect(d.comment == "Imported from -")                 // docker's words for an import
            #expect(d.config?.cmd == ["/bin/sh"])
            #expect(d.config?.labels == ["a": "b"])
            #expect(d.config?.env == nil)
            #expect(d.containerConfig == DockerContainerConfig())
            #expect(d.size == image.size)
            // The unpacked size is the layer tar's, recorded when it was compressed.
            #expect(d.virtualSize == result.layer.uncompressedSize)
            #expect(d.virtualSize > d.size)
            #expect(ImageDescription.memberOrder[""]?.prefix(8) == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment",
                                                                    "Created", "Container", "ContainerConfig"])
            // History pairs the entry with the layer.
            #expect(image.history == [HistoryEntry(created: "2023-11-14T22:13:20Z", createdBy: nil,
                                                   comment: "Imported from -", size: result.layer.compressedSize)])
        }
    }

    @Test func dockerContainerConfigKeepsDockersNullsAndOmissions() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(DockerContainerConfig()), as: UTF8.self)
        #expect(text.contains(#""Env":null"#))
        #expect(text.contains(#""Hostname":"""#))
        #expect(!text.contains("ExposedPorts"))
        #expect(!text.contains("StopSignal"))
    }

    @Test func unpackedSizeOfALayerThatCameCompressedIsCountedOnceAndRecorded() throws {
        try Self.withStore { store, _ in
            let tar = try S.tar { try $0.writeFile(path: "a", data: Data(repeating: 7, count: 5000)) }
            // A gzipped layer put as it came (as load does): no size recorded.
            let (gz, _) = try ParallelGzip(level: 1, jobs: 1).compress(tar)
            let digest = try store.putBlob(gz)
            let layer = Descriptor(mediaType: .ociLayerGzip, digest: digest, size: Int64(gz.count))
            #expect(!FileManager.default.fileExists(atPath: store.unpackedSizePath(digest)))
            #expect(try store.unpackedSize(ofLayer: layer) == Int64(tar.count))
            #expect(try String(contentsOfFile: store.unpackedSizePath(digest), encoding: .utf8) == String(tar.count))
        }
    }

    @Test func readingAStoreThatDoesNotExistCreatesNothing() throws {
        let dir = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(readingAt: dir + "/none")
        #expect(try store.images().images.isEmpty)
        #expect(try store.verify(deep: true).blobs == 0)
        #expect(throws: BaleError.self) { try store.resolve("app", in: store.images().images) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/none"))
    }

    @Test func changesListWhatCommitWouldRecord() throws {
        try Self.withStore { store, dir in
            let base = try S.tar {
                try $0.writeDirectory(path: "etc", mode: 0o755)
                try $0.writeFile(path: "etc/a", data: Data("a".utf8))
                try $0.writeFile(path: "gone", data: Data("g".utf8))
            }
            try S.image(store, layers: [base], name: "base:1")
            try store.exportRootfs("base:1", toDirectory: dir + "/tree")
            try FileManager.default.removeItem(atPath: dir + "/tree/gone")
            try Data("new".utf8).write(to: URL(fileURLWithPath: dir + "/tree/etc/b"))
            let changes = try store.changes(base: "base:1", directory: dir + "/tree")
            #expect(changes.map(\.description) == ["C /etc", "A /etc/b", "D /gone"])
            #expect(ChangeSummary(changes).description == "added 1, changed 1, deleted 1")
            // commit records the same.
            let result = try store.commitRootfs(base: "base:1", input: .directory(dir + "/tree"), options: Self.options())
            #expect(result.changes == changes)
        }
    }

    @Test func rmiOfADigestReferenceUntagsThatRepository() throws {
        try Self.withStore { store, _ in
            let layer = try S.tar { try $0.writeFile(path: "a", data: Data("a".utf8)) }
            try S.image(store, layers: [layer], name: "app:1")
            try store.tag("app:1", as: "other:2")
            let image = try store.resolve("app:1", in: store.images().images)
            let (events, errors) = try store.remove(["app@\(image.descriptor.digest)"], force: false)
            #expect(errors.isEmpty)
            #expect(events == [.untagged(try Reference(parsing: "app@\(image.descriptor.digest)")),
                               .untagged(try Reference(parsing: "app:1"))])
            #expect(try store.images().images.first?.names == [try Reference(parsing: "other:2")])
        }
    }

    @Test func tagOfAMissingImageNamesTheDefaultTag() throws {
        try Self.withStore { store, _ in
            #expect { try store.tag("app", as: "x") } throws: { ($0 as? BaleError)?.message == "No such image: app:latest" }
        }
    }
}
