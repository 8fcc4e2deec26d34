import Bale
import BaleCore
import BaleIO
import Foundation
import TestSupport
import Testing

/// `Search` over an OCI layout read through the generic location API: where titles and descriptions
/// come from, and the filters.
@Suite struct SearchTests {
    /// A layout at `dir` with `team/app:1` (a two-platform index whose annotations carry a title and a
    /// description, its configs a description label of their own) and `team/app:2` and `tool:1` (plain
    /// manifests; tool's config has a title label).
    static func layout(at dir: String) throws {
        let blobs = dir + "/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        func put(_ data: Data, _ type: MediaType) throws -> Descriptor {
            let digest = SHA256Hasher.digest(data)
            try data.write(to: URL(fileURLWithPath: blobs + "/" + digest.encoded))
            return Descriptor(mediaType: type, digest: digest, size: Int64(data.count))
        }
        func image(_ arch: String, labels: [String: String]) throws -> Descriptor {
            let layer = try put(Data("layer \(arch) \(labels)".utf8), .ociLayer)
            var config = ImageConfig(architecture: arch, os: "linux", rootfs: .init(diffIDs: [layer.digest]))
            config.config = ContainerConfig()
            config.config?.labels = labels
            var manifest = try put(JSON.canonical(Manifest(mediaType: .ociManifest, config: put(JSON.canonical(config), .ociConfig),
                                                           layers: [layer])), .ociManifest)
            manifest.platform = Platform(os: "linux", architecture: arch)
            return manifest
        }
        let described = [Search.descriptionKey: "from the config"]
        let children = try ["amd64", "arm64", "riscv64"].map { try image($0, labels: described) }
        var index = try put(JSON.canonical(Index(mediaType: .ociIndex, manifests: children, annotations: [
            Search.titleKey: "Team App", Search.descriptionKey: "Serves the team's pages",
        ])), .ociIndex)
        index.annotations = [Descriptor.Annotation.containerdImageName: "docker.io/team/app:1"]
        var second = try image("amd64", labels: [:])
        second.annotations = [Descriptor.Annotation.containerdImageName: "docker.io/team/app:2"]
        second.platform = nil
        var tool = try image("amd64", labels: [Search.titleKey: "Swiss Knife"])
        tool.annotations = [Descriptor.Annotation.refName: "reg.local:5000/tool:1"]
        tool.platform = nil
        try JSON.canonical(Index(mediaType: .ociIndex, manifests: [index, second, tool]))
            .write(to: URL(fileURLWithPath: dir + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/oci-layout"))
    }

    static func search(_ term: String, filters: [String] = [], in dir: String) throws -> [SearchResult] {
        let context = LocationContext(store: { throw BaleError(.internal, "no store in this test") })
        let source = try Location(parsing: "oci:" + dir).source(context)
        return try Search.search(term, in: source, sourceName: "L", filter: SearchFilter(filters)).results
    }

    @Test func indexAnnotationsComeBeforeConfigLabelsAndEveryTagIsListed() throws {
        try ProcessRunner.withTemporaryDirectory { dir throws in
            try Self.layout(at: dir.path)
            let all = try Self.search("", in: dir.path)
            #expect(all == [
                SearchResult(name: "reg.local:5000/tool", title: "Swiss Knife", description: "", tags: ["1"], source: "L"),
                SearchResult(name: "team/app", title: "Team App", description: "Serves the team's pages", tags: ["1", "2"], source: "L"),
            ])
            #expect(try Self.search("PAGES", in: dir.path).map(\.name) == ["team/app"])
            #expect(try Self.search("knife", in: dir.path).map(\.name) == ["reg.local:5000/tool"])
            #expect(try Self.search("5000", in: dir.path).map(\.name) == ["reg.local:5000/tool"])
            #expect(try Self.search("from the config", in: dir.path).isEmpty)
        }
    }

    @Test func aLabelFilterKeepsOnlyTheImagesThatCarryIt() throws {
        try ProcessRunner.withTemporaryDirectory { dir throws in
            try Self.layout(at: dir.path)
            let titled = try Self.search("", filters: ["label=\(Search.titleKey)"], in: dir.path)
            #expect(titled.map(\.name) == ["reg.local:5000/tool", "team/app"])
            #expect(titled.last?.tags == ["1"])
            #expect(try Self.search("", filters: ["label=\(Search.titleKey)=Team App"], in: dir.path).map(\.name) == ["team/app"])
        }
    }

    @Test(arguments: ["stars=3", "is-official=true", "is-automated=false", "nonsense=1", "label"])
    func filtersThatMeanNothingOfflineAreRefused(filter: String) {
        #expect(throws: BaleError.self) { try SearchFilter([filter]) }
    }

    /// Counts the documents read through it.
    final class Counting: ImageSource, @unchecked Sendable {
        let inner: any ImageSource
        var reads = 0
        init(_ inner: any ImageSource) { self.inner = inner }
        var name: String { inner.name }
        func images() throws -> [SourceImage] { try inner.images() }
        func document(_ descriptor: Descriptor) throws -> Data {
            reads += 1
            return try inner.document(descriptor)
        }
        func openBlob(_ descriptor: Descriptor) throws -> any BlobReader { try inner.openBlob(descriptor) }
        func close() { inner.close() }
    }

    /// A repository with many tags (a registry's tags list) costs one image's documents, its `latest`;
    /// only a label filter reads them all.
    @Test func oneImagePerRepositoryIsRead() throws {
        try ProcessRunner.withTemporaryDirectory { dir throws in
            let images = dir.path + "/images"
            try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
            let context = LocationContext(store: { try Store(root: dir.path + "/store") })
            var tags = ["latest"] + (1...5).map(String.init)
            tags.swapAt(0, 3)
            for tag in tags {
                let description = tag == "latest" ? "the latest one" : "number \(tag)"
                try Data(tag.utf8).write(to: URL(fileURLWithPath: dir.path + "/src/f"))
                var options = RootfsImageOptions(compression: GzipSettings(level: 1, jobs: 1))
                options.changes = ["LABEL \(Search.descriptionKey)=\"\(description)\""]
                _ = try Copier().copy(from: Location(parsing: "rootfs:\(dir.path)/src"),
                                      to: Location(parsing: "oci:\(images):app:\(tag)"), context: { var c = context; c.rootfs = options; return c }())
            }
            let plain = Counting(try Location(parsing: "oci:" + images).source(context))
            let found = try Search.search("", in: plain, sourceName: "L", filter: SearchFilter([])).results
            #expect(found.map(\.description) == ["the latest one"])
            #expect(found.first?.tags.count == 6)
            #expect(plain.reads == 2, "read \(plain.reads) documents")
            let filtered = Counting(try Location(parsing: "oci:" + images).source(context))
            _ = try Search.search("", in: filtered, sourceName: "L", filter: SearchFilter(["label=\(Search.descriptionKey)"]))
            #expect(filtered.reads == 12, "read \(filtered.reads) documents")
        }
    }
}
