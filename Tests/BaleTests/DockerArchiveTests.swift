import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

typealias DAKit = DockerArchiveKit

@Suite struct DockerArchiveTests {
    // MARK: Writing, and reading back what bale wrote

    @Test func roundTripKeepsImageIDManifestDigestAndNames() throws {
        let from = try StoreFixture()
        let base = try DAKit.layer(["etc/os-release": "ID=test\n"])
        let top = try DAKit.layer(["app/run": "#!/bin/sh\n"])
        let app = try from.image(layers: [base, top], names: ["app:1", "localhost:5000/team/app:v2"])
        let dir = try DAKit.TempDir()
        let file = dir.file("app.tar")
        try DAKit.save(from.store, [app.id.string], to: file)

        let to = try StoreFixture()
        try DAKit.load(path: file, into: to.store)
        let images = try DAKit.stored(to.store)
        #expect(images.count == 1)
        let image = try #require(images.first)
        #expect(image.id == app.id)
        #expect(image.descriptor.digest == app.descriptor.digest)
        #expect(image.names.map(\.familiar).sorted() == ["app:1", "localhost:5000/team/app:v2"])
        // Nothing but the final archive in the directory: the temp file was renamed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["app.tar"])
    }

    @Test func archiveHoldsBothFormsWithSharedBlobsOnce() throws {
        let f = try StoreFixture()
        let base = try DAKit.layer(["base": "shared"])
        let a = try f.image(layers: [base, try DAKit.layer(["a": "1"])], names: ["a:1"])
        let b = try f.image(layers: [base, try DAKit.layer(["b": "2"])], names: ["b:2"])
        let dir = try DAKit.TempDir()
        let file = dir.file("two.tar")
        try DAKit.save(f.store, ["a:1", "b:2"], to: file)

        let members = try DAKit.members(file)
        let names = members.map(\.path)
        #expect(names.prefix(2) == ["blobs/", "blobs/sha256/"])
        #expect(names.filter { $0 == "blobs/sha256/\(DAKit.sha(base).encoded)" }.count == 1)
        #expect(Set(names).count == names.count)
        for required in ["oci-layout", "index.json", "manifest.json", "repositories"] { #expect(names.contains(required)) }
        // Every blob member is named by the digest of its bytes.
        for m in members where m.path.hasPrefix("blobs/sha256/") && m.kind == .file {
            #expect("blobs/sha256/" + DAKit.sha(m.data).encoded == m.path)
        }

        struct Item: Decodable { let Config: String; let RepoTags: [String]?; let Layers: [String] }
        let manifestJSON = try #require(members.first { $0.path == "manifest.json" }?.data)
        let items = try JSONDecoder().decode([Item].self, from: manifestJSON)
        #expect(items.map(\.Config) == ["blobs/sha256/\(a.id.encoded)", "blobs/sha256/\(b.id.encoded)"])
        #expect(items.map(\.RepoTags) == [["a:1"], ["b:2"]])
        #expect(items[0].Layers.first == "blobs/sha256/\(DAKit.sha(base).encoded)")

        let indexJSON = try #require(members.first { $0.path == "index.json" }?.data)
        let index = try JSON.decode(Index.self, from: indexJSON, what: "index.json")
        #expect(index.manifests.map(\.digest) == [a.descriptor.digest, b.descriptor.digest])
        #expect(index.manifests[0].annotations == ["io.containerd.image.name": "docker.io/library/a:1",
                                                   "org.opencontainers.image.ref.name": "1"])
        let repositories = try #require(members.first { $0.path == "repositories" }?.data)
        let repos = try JSONDecoder().decode([String: [String: String]].self, from: repositories)
        #expect(repos["a"]?["1"]?.count == 64)
        #expect(String(decoding: try #require(members.first { $0.path == "oci-layout" }?.data), as: UTF8.self)
                == #"{"imageLayoutVersion":"1.0.0"}"#)
    }

    @Test func savingIsDeterministicAndUntaggedImagesGetABareEntry() throws {
        let f = try StoreFixture()
        let image = try f.image(layers: [try DAKit.layer(["x": "y"])])
        let dir = try DAKit.TempDir()
        try DAKit.save(f.store, [image.id.string], to: dir.file("1.tar"))
        try DAKit.save(f.store, [image.id.string], to: dir.file("2.tar"))
        let one = try #require(FileManager.default.contents(atPath: dir.file("1.tar")))
        #expect(one == FileManager.default.contents(atPath: dir.file("2.tar")))

        let members = try DAKit.members(dir.file("1.tar"))
        let manifestJSON = String(decoding: try #require(members.first { $0.path == "manifest.json" }?.data), as: UTF8.self)
        #expect(manifestJSON.contains(#""RepoTags":null"#))
        let index = try JSON.decode(Index.self, from: try #require(members.first { $0.path == "index.json" }?.data), what: "index")
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].annotations == nil)

        let to = try StoreFixture()
        let report = try DAKit.load(path: dir.file("1.tar"), into: to.store)
        #expect(report.images.first?.names == [])
        #expect(try DAKit.stored(to.store).first?.id == image.id)
    }

    @Test func aFailedSaveLeavesNoFile() throws {
        let f = try StoreFixture()
        let image = try f.image(layers: [try DAKit.layer(["x": "y"])], names: ["x:1"])
        // Damage a layer in the store: the put's digest check fails and the archive is abandoned.
        let layer = try #require(try DAKit.stored(f.store).first?.manifest.value.layers.first)
        let path = f.store.blobPath(layer.digest)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.startIndex] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: path))
        let dir = try DAKit.TempDir()
        let error = DAKit.error { try DAKit.save(f.store, [image.id.string], to: dir.file("bad.tar")) }
        #expect(error?.code == .integrity)
        #expect(error?.message.contains("content does not match the digest") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func locationsParseAndSelect() throws {
        let location = try Location(parsing: "docker-archive:/tmp/x.tar:app:1")
        #expect(location.format.prefix == "docker-archive")
        #expect(location.path == "/tmp/x.tar")
        #expect(location.name?.string == "docker.io/library/app:1")
        #expect(try Location(parsing: "docker-archive:/tmp/x.tar:@1").name == nil)
        let error = DAKit.error { _ = try Location(parsing: "docker-archive:/tmp/x.tar:@1").destination(LocationContext(store: { throw BaleError(.internal, "no store") })) }
        #expect(error?.code == .usage)
        #expect(DAKit.error { _ = try ArchiveSource(path: "/x", reference: "@x") }?.code == .usage)
    }

    // MARK: Legacy form (Docker ≤ 24 and skopeo)

    /// Two images sharing a base layer, as Docker ≤ 24 saved them: the second image's base `layer.tar`
    /// is a symlink to the first's.
    static func legacyArchive(compressedTop: Bool = false) throws
        -> (tar: [DAKit.Member], ids: [Digest], layers: [Data]) {
        let l1 = try DAKit.layer(["etc/base": "base"])
        let l2 = try DAKit.layer(["app/a": "a"])
        let l3 = try DAKit.layer(["app/b": "b"])
        let l3stored = compressedTop ? try DAKit.layer(["app/b": "b"], compression: .gzip) : l3
        let configA = DAKit.config(diffIDs: [DAKit.sha(l1), DAKit.sha(l2)])
        let configB = DAKit.config(diffIDs: [DAKit.sha(l1), DAKit.sha(l3)], created: "2024-06-01T00:00:00Z")
        let (idA, idB) = (DAKit.sha(configA), DAKit.sha(configB))
        let v1 = ["a1", "a2", "b1", "b2"].map { DAKit.sha(Data($0.utf8)).encoded }
        let manifest = """
            [{"Config":"\(idA.encoded).json","RepoTags":["app:1"],"Layers":["\(v1[0])/layer.tar","\(v1[1])/layer.tar"]},
             {"Config":"\(idB.encoded).json","RepoTags":["tool:2","reg.local:5000/t/tool:2"],"Layers":["\(v1[2])/layer.tar","\(v1[3])/layer.tar"],"Parent":""}]
            """
        var members: [DAKit.Member] = [.file("\(idA.encoded).json", configA), .file("\(idB.encoded).json", configB)]
        for (i, id) in v1.enumerated() {
            members.append(.directory(id + "/"))
            members.append(.file(id + "/VERSION", Data("1.0".utf8)))
            members.append(.file(id + "/json", Data(#"{"id":"\#(id)"}"#.utf8)))
            switch i {
            case 0: members.append(.file(id + "/layer.tar", l1))
            case 1: members.append(.file(id + "/layer.tar", l2))
            case 2: members.append(.symlink(id + "/layer.tar", "../\(v1[0])/layer.tar"))
            default: members.append(.file(id + "/layer.tar", l3stored))
            }
        }
        members.append(.file("manifest.json", Data(manifest.utf8)))
        members.append(.file("repositories", Data(#"{"app":{"1":"\#(v1[1])"}}"#.utf8)))
        return (members, [idA, idB], [l1, l2, l3stored])
    }

    @Test func legacyFormLoadsWithDeterministicSynthesisedManifests() throws {
        let (members, ids, layers) = try Self.legacyArchive()
        let dir = try DAKit.TempDir()
        let file = dir.file("legacy.tar")
        try DAKit.tar(members).write(to: URL(fileURLWithPath: file))

        var digests: [[Digest]] = []
        for _ in 0 ..< 2 {
            let f = try StoreFixture()
            let report = try DAKit.load(path: file, into: f.store)
            // Synthesised manifests are OCI-typed, so peers read the store (config bytes unchanged).
            #expect(report.images.map(\.descriptor.mediaType) == [.ociManifest, .ociManifest])
            let images = try DAKit.stored(f.store)
            let byID = Dictionary(uniqueKeysWithValues: images.map { ($0.id, $0) })
            let a = try #require(byID[ids[0]])
            let b = try #require(byID[ids[1]])
            #expect(a.names.map(\.familiar) == ["app:1"])
            #expect(b.names.map(\.string).sorted() == ["docker.io/library/tool:2", "reg.local:5000/t/tool:2"])
            #expect(a.manifest.value.layers.map(\.digest) == [DAKit.sha(layers[0]), DAKit.sha(layers[1])])
            #expect(a.manifest.value.layers.allSatisfy { $0.mediaType == .ociLayer })
            #expect(a.manifest.value.config.mediaType == .ociConfig)
            // The shared base layer reached through the symlink is the same blob.
            #expect(b.manifest.value.layers.first?.digest == DAKit.sha(layers[0]))
            // Config bytes are carried exactly (they were not canonical JSON).
            #expect(try f.store.readDocument(a.manifest.value.config) == DAKit.config(diffIDs: [DAKit.sha(layers[0]), DAKit.sha(layers[1])]))
            digests.append(report.images.map(\.descriptor.digest))
        }
        #expect(digests[0] == digests[1])
    }

    @Test func legacyCompressedLayerFileIsLabelledByItsBytes() throws {
        let (members, ids, layers) = try Self.legacyArchive(compressedTop: true)
        let dir = try DAKit.TempDir()
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("gz.tar")))
        let f = try StoreFixture()
        try DAKit.load(path: dir.file("gz.tar"), into: f.store)
        let b = try #require(try DAKit.stored(f.store).first { $0.id == ids[1] })
        #expect(b.manifest.value.layers.last?.mediaType == .ociLayerGzip)
        #expect(b.manifest.value.layers.last?.digest == DAKit.sha(layers[2]))
    }

    @Test func skopeoVariantWithTopLevelLayersAndFullNames() throws {
        let l1 = try DAKit.layer(["bin/sh": "sh"])
        let l2 = try DAKit.layer(["app": "x"])
        let config = DAKit.config(diffIDs: [DAKit.sha(l1), DAKit.sha(l2)])
        let id = DAKit.sha(config)
        let v1 = ["s1", "s2"].map { DAKit.sha(Data($0.utf8)).encoded }
        let manifest = """
            [{"Config":"\(id.encoded).json","RepoTags":["docker.io/library/app:1"],"Layers":["\(v1[0])/layer.tar","\(DAKit.sha(l2).encoded).tar"]}]
            """
        let members: [DAKit.Member] = [
            .file("\(DAKit.sha(l1).encoded).tar", l1),
            .file("\(DAKit.sha(l2).encoded).tar", l2),
            .file("\(id.encoded).json", config),
            .directory(v1[0]), .symlink(v1[0] + "/layer.tar", "../\(DAKit.sha(l1).encoded).tar"),
            .directory(v1[1]), .symlink(v1[1] + "/layer.tar", "../\(DAKit.sha(l2).encoded).tar"),
            .file("manifest.json", Data(manifest.utf8)),
        ]
        let dir = try DAKit.TempDir()
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("skopeo.tar")))
        let f = try StoreFixture()
        try DAKit.load(path: dir.file("skopeo.tar"), into: f.store)
        let images = try DAKit.stored(f.store)
        #expect(images.map(\.id) == [id])
        #expect(images.first?.names.map(\.familiar) == ["app:1"])
        #expect(images.first?.manifest.value.layers.map(\.digest) == [DAKit.sha(l1), DAKit.sha(l2)])
    }

    @Test func hardlinkedLayerResolvesFromTheRoot() throws {
        let l1 = try DAKit.layer(["f": "1"])
        let config = DAKit.config(diffIDs: [DAKit.sha(l1)])
        let members: [DAKit.Member] = [
            .file("a/layer.tar", l1), .hardlink("b/layer.tar", "a/layer.tar"),
            .file("c.json", config),
            .file("manifest.json", Data(#"[{"Config":"c.json","RepoTags":null,"Layers":["b/layer.tar"]}]"#.utf8)),
        ]
        let dir = try DAKit.TempDir()
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("h.tar")))
        let f = try StoreFixture()
        let report = try DAKit.load(path: dir.file("h.tar"), into: f.store)
        #expect(report.images.first?.names == [])
        #expect(try DAKit.stored(f.store).map(\.id) == [DAKit.sha(config)])
    }

    @Test func selectsByPositionAndByTag() throws {
        let (members, ids, _) = try Self.legacyArchive()
        let dir = try DAKit.TempDir()
        let file = dir.file("legacy.tar")
        try DAKit.tar(members).write(to: URL(fileURLWithPath: file))
        for (reference, id, names) in [("@1", ids[1], ["reg.local:5000/t/tool:2", "tool:2"]), ("reg.local:5000/t/tool:2", ids[1], ["reg.local:5000/t/tool:2"]),
                                       ("app:1", ids[0], ["app:1"]), ("docker.io/library/app:1", ids[0], ["app:1"])] {
            let f = try StoreFixture()
            try DAKit.load(path: file, reference: reference, into: f.store)
            let images = try DAKit.stored(f.store)
            #expect(images.map(\.id) == [id], "\(reference)")
            #expect(images.first?.names.map(\.familiar).sorted() == names, "\(reference)")
        }
        let f = try StoreFixture()
        #expect(DAKit.error { try DAKit.load(path: file, reference: "@2", into: f.store) }?.message.contains("no image at position 2") == true)
        #expect(DAKit.error { try DAKit.load(path: file, reference: "app:9", into: f.store) }?.code == .notFound)
    }

    @Test func emptyManifestListGivesNoImages() throws {
        let dir = try DAKit.TempDir()
        try DAKit.tar([.file("manifest.json", Data("[]".utf8))]).write(to: URL(fileURLWithPath: dir.file("e.tar")))
        let f = try StoreFixture()
        let report = try DAKit.load(path: dir.file("e.tar"), into: f.store)
        #expect(report.images.isEmpty)
    }

    // MARK: Docker 25+ form and the containerd-store variant

    /// Docker 25's classic-store save: OCI layout inside with uncompressed layers named by DiffID, plus
    /// manifest.json and repositories.
    static func docker25Archive() throws -> (tar: [DAKit.Member], id: Digest, manifest: Digest) {
        let l1 = try DAKit.layer(["etc/base": "base"])
        let l2 = try DAKit.layer(["srv/app": "app"])
        let config = DAKit.config(diffIDs: [DAKit.sha(l1), DAKit.sha(l2)])
        let id = DAKit.sha(config)
        let manifest = Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(id)","size":\(config.count)},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(DAKit.sha(l1))","size":\(l1.count)},
                       {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(DAKit.sha(l2))","size":\(l2.count)}]}
            """.utf8)
        let md = DAKit.sha(manifest)
        let index = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
             {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(md)","size":\(manifest.count),
              "annotations":{"io.containerd.image.name":"docker.io/library/web:1","org.opencontainers.image.ref.name":"1"}},
             {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(md)","size":\(manifest.count),
              "annotations":{"io.containerd.image.name":"docker.io/library/web:latest","org.opencontainers.image.ref.name":"latest"}}]}
            """
        let items = """
            [{"Config":"blobs/sha256/\(id.encoded)","RepoTags":["web:1","web:latest"],"Layers":["blobs/sha256/\(DAKit.sha(l1).encoded)","blobs/sha256/\(DAKit.sha(l2).encoded)"]}]
            """
        let members: [DAKit.Member] = [
            .directory("blobs"), .directory("blobs/sha256"),
            .file("blobs/sha256/\(DAKit.sha(l1).encoded)", l1),
            .file("blobs/sha256/\(DAKit.sha(l2).encoded)", l2),
            .file("blobs/sha256/\(id.encoded)", config),
            .file("blobs/sha256/\(md.encoded)", manifest),
            .file("index.json", Data(index.utf8)),
            .file("manifest.json", Data(items.utf8)),
            .file("oci-layout", Data(#"{"imageLayoutVersion": "1.0.0"}"#.utf8)),
            .file("repositories", Data(#"{"web":{"1":"\#(DAKit.sha(l2).encoded)"}}"#.utf8)),
        ]
        return (members, id, md)
    }

    @Test func docker25FormKeepsTheOCIManifest() throws {
        let (members, id, manifest) = try Self.docker25Archive()
        let dir = try DAKit.TempDir()
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("d25.tar")))
        let f = try StoreFixture()
        let report = try DAKit.load(path: dir.file("d25.tar"), into: f.store)
        #expect(report.images.map(\.descriptor.digest) == [manifest])
        let images = try DAKit.stored(f.store)
        #expect(images.map(\.id) == [id])
        #expect(images.first?.names.map(\.familiar) == ["web:1", "web:latest"])
        #expect(images.first?.descriptor.mediaType == .ociManifest)
    }

    @Test func ociLayoutWithoutManifestJSONIsReadThroughIndexJSON() throws {
        let (members, id, manifest) = try Self.docker25Archive()
        let dir = try DAKit.TempDir()
        let withoutManifestJSON = members.filter { if case .file("manifest.json", _) = $0 { return false } else { return true } }
        try DAKit.tar(withoutManifestJSON).write(to: URL(fileURLWithPath: dir.file("oci.tar")))
        let f = try StoreFixture()
        let report = try DAKit.load(path: dir.file("oci.tar"), into: f.store)
        #expect(report.images.map(\.descriptor.digest) == [manifest])
        #expect(try DAKit.stored(f.store).first?.id == id)
        #expect(try DAKit.stored(f.store).first?.names.map(\.familiar) == ["web:1", "web:latest"])
    }

    /// Docker 29 on the containerd store: gzip blobs, and the index.json entry is a multi-platform index
    /// of which only the amd64 manifest is in the archive.
    static func containerdArchive(dir: DAKit.TempDir) throws -> (tar: [DAKit.Member], id: Digest, index: Digest) {
        let gz1 = try DAKit.layer(["etc/base": "base"], compression: .gzip)
        let gz2 = try DAKit.layer(["srv/app": "app"], compression: .gzip)
        var diffIDs: [Digest] = []
        for (i, gz) in [gz1, gz2].enumerated() {
            let path = dir.file("layer\(i).gz")
            try gz.write(to: URL(fileURLWithPath: path))
            diffIDs.append(try LayerDigest.diffID(ofFile: path))
        }
        let config = DAKit.config(diffIDs: diffIDs)
        let id = DAKit.sha(config)
        let manifest = Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(id)","size":\(config.count)},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(DAKit.sha(gz1))","size":\(gz1.count)},
                       {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(DAKit.sha(gz2))","size":\(gz2.count)}]}
            """.utf8)
        let md = DAKit.sha(manifest)
        let absent = DAKit.sha(Data("arm64 manifest, not in the archive".utf8))
        let index = Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
             {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(md)","size":\(manifest.count),"platform":{"architecture":"amd64","os":"linux"}},
             {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(absent)","size":999,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}
            """.utf8)
        let ixd = DAKit.sha(index)
        let top = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
             {"mediaType":"application/vnd.oci.image.index.v1+json","digest":"\(ixd)","size":\(index.count),
              "annotations":{"io.containerd.image.name":"docker.io/library/alpine:3","org.opencontainers.image.ref.name":"3"}}]}
            """
        let items = """
            [{"Config":"blobs/sha256/\(id.encoded)","RepoTags":["alpine:3"],"Layers":["blobs/sha256/\(DAKit.sha(gz1).encoded)","blobs/sha256/\(DAKit.sha(gz2).encoded)"]}]
            """
        let members: [DAKit.Member] = [
            .file("blobs/sha256/\(DAKit.sha(gz1).encoded)", gz1),
            .file("blobs/sha256/\(DAKit.sha(gz2).encoded)", gz2),
            .file("blobs/sha256/\(id.encoded)", config),
            .file("blobs/sha256/\(md.encoded)", manifest),
            .file("blobs/sha256/\(ixd.encoded)", index),
            .file("index.json", Data(top.utf8)),
            .file("manifest.json", Data(items.utf8)),
            .file("oci-layout", Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
        ]
        return (members, id, ixd)
    }

    @Test func containerdStoreFormLoadsThePresentPlatform() throws {
        let dir = try DAKit.TempDir()
        let (members, id, index) = try Self.containerdArchive(dir: dir)
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("ctr.tar")))
        let f = try StoreFixture()
        let report = try DAKit.load(path: dir.file("ctr.tar"), into: f.store)
        // One platform is kept as that platform's manifest (the index would name manifests the store
        // does not hold), so the stored image is the amd64 manifest, not the index.
        #expect(report.images.map(\.descriptor.digest) != [index])
        #expect(report.images.allSatisfy { $0.descriptor.mediaType.isManifest })
        let stored = try DAKit.stored(f.store)
        if Platform.host.architecture == "amd64" { #expect(stored.map(\.id) == [id]) }
        let indexJSON = try JSON.decode(Index.self, from: DAKit.snapshot(f.store).index, what: "index.json")
        #expect(indexJSON.manifests.map(\.digest) == report.images.map(\.descriptor.digest))
        #expect(!f.store.hasBlob(index))
        #expect(f.store.hasBlob(id))
    }

    // MARK: Whole-archive compression, files and pipes

    @Test(arguments: [TarCompression.gzip, .xz, .zstd, .none])
    func compressedArchivesLoadFromFilesAndPipes(_ compression: TarCompression) throws {
        let (members, id, manifest) = try Self.docker25Archive()
        let data = try DAKit.tar(members, compression: compression)
        let dir = try DAKit.TempDir()
        try data.write(to: URL(fileURLWithPath: dir.file("a.tar")))
        let f = try StoreFixture()
        try DAKit.load(path: dir.file("a.tar"), into: f.store)
        #expect(try DAKit.stored(f.store).map(\.id) == [id])

        let g = try StoreFixture()
        let pipe = DAKit.pipe(data)
        let source = try ArchiveSource(fileDescriptor: pipe.fileHandleForReading.fileDescriptor,
                                             reference: nil, name: "docker-archive:-")
        let report = try DAKit.load(source, into: g.store)
        #expect(report.images.map(\.descriptor.digest) == [manifest])
        #expect(try DAKit.stored(g.store).map(\.id) == [id])
    }

    @Test(arguments: [ArchiveCompression.gzip, .xz, .zstd])
    func savesCompressedArchives(_ compression: ArchiveCompression) throws {
        let f = try StoreFixture()
        let image = try f.image(layers: [try DAKit.layer(["x": "y"])], names: ["c:1"])
        let dir = try DAKit.TempDir()
        try DAKit.save(f.store, ["c:1"], to: dir.file("c.tar"), compression: compression)
        let head = try #require(FileManager.default.contents(atPath: dir.file("c.tar"))).prefix(4)
        let magic: [ArchiveCompression: [UInt8]] = [.gzip: [0x1f, 0x8b], .xz: [0xfd, 0x37, 0x7a, 0x58], .zstd: [0x28, 0xb5, 0x2f, 0xfd]]
        #expect(Array(head).starts(with: magic[compression] ?? []))
        let to = try StoreFixture()
        try DAKit.load(path: dir.file("c.tar"), into: to.store)
        #expect(try DAKit.stored(to.store).map(\.id) == [image.id])
    }

    @Test func archiveToArchiveThroughATemporarySink() throws {
        let (members, id, manifest) = try Self.docker25Archive()
        let dir = try DAKit.TempDir()
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("in.tar")))
        let source = try ArchiveSource(path: dir.file("in.tar"), reference: nil)
        let destination = try ArchiveDestination(path: dir.file("out.tar"))
        var options = CopyOptions()
        options.temporaryDirectory = dir.path
        _ = try Copier(options: options).copy(from: source, to: destination)
        // The staging directory went with the copy.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("bale-staging") }.isEmpty)
        let f = try StoreFixture()
        let report = try DAKit.load(path: dir.file("out.tar"), into: f.store)
        #expect(report.images.map(\.descriptor.digest) == [manifest])
        #expect(try DAKit.stored(f.store).map(\.id) == [id])
    }
}
