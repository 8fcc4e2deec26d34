import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// `bale serve`'s content and routes without a socket: an archive served by offset (never copied),
/// the API's answers, Range, pagination, Accept and refused writes.
@Suite struct ServeTests {
    typealias Kit = DockerArchiveKit

    /// A legacy `docker save` archive (no manifest of its own) with two images sharing one layer.
    struct Archive {
        let dir: Kit.TempDir
        let path: String
        let layer: Data
        let config: Data
    }

    static func archive(compression: TarCompression = .none, tags: [String] = ["app:1", "team/b:2", "team/b:3"]) throws -> Archive {
        let dir = try Kit.TempDir()
        let layer = try Kit.tar([.file("big.bin", Kit.noise(300_000)), .file("etc/hostname", Data("x\n".utf8))])
        let config = Kit.config(diffIDs: [Kit.sha(layer)])
        let repoTags = tags.map { "\"\($0)\"" }.joined(separator: ",")
        let manifest = Data("""
            [{"Config":"\(Kit.sha(config).encoded).json","RepoTags":[\(repoTags)],"Layers":["l1/layer.tar"]}]
            """.utf8)
        let tar = try Kit.tar([
            .file("\(Kit.sha(config).encoded).json", config), .directory("l1"), .file("l1/layer.tar", layer),
            .file("manifest.json", manifest),
        ], compression: compression)
        let path = dir.file(compression == .none ? "a.tar" : "a.tar.gz")
        try tar.write(to: URL(fileURLWithPath: path))
        return Archive(dir: dir, path: path, layer: layer, config: config)
    }

    static func content(_ archive: Archive, said: ((String) -> Void)? = nil) throws -> ServedContent {
        let context = LocationContext(store: { throw BaleError(.usage, "no store here") }, temporaryDirectory: archive.dir.path)
        return try ServedContent(locations: [Location(parsing: "docker-archive:\(archive.path)")], context: context) {
            said?($0)
        }
    }

    static func get(_ routes: RegistryRoutes, _ uri: String, method: String = "GET", accept: [String] = [],
                    range: String? = nil) -> RegistryRoutes.Response {
        routes.answer(RegistryRoutes.Request(method: method, uri: uri, accept: accept, range: range))
    }

    static func header(_ response: RegistryRoutes.Response, _ name: String) -> String? {
        response.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    static func body(_ response: RegistryRoutes.Response) throws -> Data {
        switch response.body {
        case .none: return Data()
        case .bytes(let data): return data
        case .file(let region): return try Self.read(region)
        }
    }

    static func read(_ region: FileRegion) throws -> Data {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: region.path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(region.offset))
        return handle.readData(ofLength: Int(region.length))
    }

    @Test func anArchiveIsServedFromItsOwnBytesByOffset() throws {
        let archive = try Self.archive()
        let content = try Self.content(archive)
        defer { content.close() }
        let routes = RegistryRoutes(content: content)
        #expect(content.names == ["app", "team/b"])

        let manifest = Self.get(routes, "/v2/app/manifests/1")
        #expect(manifest.status == 200)
        #expect(Self.header(manifest, "Content-Type") == MediaType.ociManifest.rawValue)
        let bytes = try Self.body(manifest)
        #expect(Self.header(manifest, "Docker-Content-Digest") == SHA256Hasher.digest(bytes).description)
        let parsed = try JSON.decode(Manifest.self, from: bytes, what: "manifest")
        #expect(parsed.config.digest == Kit.sha(archive.config))

        // The layer: a region of the archive file itself, not a copy.
        let layer = Self.get(routes, "/v2/team/b/blobs/\(Kit.sha(archive.layer))")
        #expect(layer.status == 200)
        guard case .file(let region) = layer.body else {
            Issue.record("the layer is not served from a file region")
            return
        }
        #expect(region.path == archive.path)
        #expect(region.offset > 0 && region.offset % 512 == 0)
        #expect(try Self.read(region) == archive.layer)
        #expect(Self.header(layer, "Content-Length") == String(archive.layer.count))

        // HEAD: the same headers, no body.
        let head = Self.get(routes, "/v2/app/blobs/\(Kit.sha(archive.layer))", method: "HEAD")
        #expect(head.status == 200)
        #expect(Self.header(head, "Content-Length") == String(archive.layer.count))
        if case .none = head.body {} else { Issue.record("HEAD has a body") }
    }

    /// A repository name cannot hold a registry's port (`HOST/localhost:5000/team/app` is no reference a
    /// client can even parse): such an image is served under its host less the port, and two names
    /// that come out as one repository stop serve at start instead of sharing its tags.
    @Test func aRegistryPortIsLeftOutOfTheServedName() throws {
        let archive = try Self.archive(tags: ["localhost:5000/team/app:1", "quay.io/team/app:2", "app:3"])
        let content = try Self.content(archive)
        defer { content.close() }
        #expect(content.names == ["app", "localhost/team/app", "quay.io/team/app"])
        let manifest = Self.get(RegistryRoutes(content: content), "/v2/localhost/team/app/manifests/1")
        #expect(manifest.status == 200)

        let clash = try Self.archive(tags: ["localhost:5000/team/app:1", "localhost:6000/team/app:2"])
        #expect {
            try Self.content(clash).close()
        } throws: { error in
            "\(error)".contains("\"localhost:5000/team/app\" and \"localhost:6000/team/app\" would both be served as repository \"localhost/team/app\"")
        }
    }

    @Test func aCompressedArchiveIsDecompressedOnceAndSaysSo() throws {
        let archive = try Self.archive(compression: .gzip)
        var said: [String] = []
        let content = try Self.content(archive) { said.append($0) }
        defer { content.close() }
        #expect(said.first?.contains("gzip-compressed") == true, "\(said)")
        #expect(said.first?.contains("decompressing it once") == true)
        let layer = Self.get(RegistryRoutes(content: content), "/v2/app/blobs/\(Kit.sha(archive.layer))")
        #expect(try Self.body(layer) == archive.layer)
    }

    @Test func rangesListsAcceptAndWrites() throws {
        let archive = try Self.archive()
        let content = try Self.content(archive)
        defer { content.close() }
        let routes = RegistryRoutes(content: content)
        let blob = "/v2/app/blobs/\(Kit.sha(archive.layer))"
        let size = archive.layer.count

        let part = Self.get(routes, blob, range: "bytes=10-99")
        #expect(part.status == 206)
        #expect(Self.header(part, "Content-Range") == "bytes 10-99/\(size)")
        #expect(try Self.body(part) == archive.layer.subdata(in: 10 ..< 100))
        #expect(try Self.body(Self.get(routes, blob, range: "bytes=-7")) == archive.layer.suffix(7))
        #expect(try Self.body(Self.get(routes, blob, range: "bytes=\(size - 3)-")) == archive.layer.suffix(3))
        for bad in ["bytes=\(size)-", "bytes=5-2", "bytes=0-1,4-5", "lines=1-2", "bytes=x-"] {
            let r = Self.get(routes, blob, range: bad)
            #expect(r.status == 416, "\(bad)")
            #expect(Self.header(r, "Content-Range") == "bytes */\(size)", "\(bad)")
        }

        let first = Self.get(routes, "/v2/_catalog?n=1")
        #expect(String(decoding: try Self.body(first), as: UTF8.self) == #"{"repositories":["app"]}"#)
        #expect(Self.header(first, "Link") == #"</v2/_catalog?last=app&n=1>; rel="next""#)
        let second = Self.get(routes, "/v2/_catalog?last=app&n=1")
        #expect(String(decoding: try Self.body(second), as: UTF8.self) == #"{"repositories":["team/b"]}"#)
        #expect(Self.header(second, "Link") == nil)
        let tags = Self.get(routes, "/v2/team/b/tags/list")
        #expect(String(decoding: try Self.body(tags), as: UTF8.self) == #"{"name":"team/b","tags":["2","3"]}"#)

        // Accept: an OCI manifest is not converted for a client that takes only Docker types.
        let dockerOnly = Self.get(routes, "/v2/app/manifests/1", accept: ["application/vnd.docker.distribution.manifest.v2+json"])
        #expect(dockerOnly.status == 404)
        #expect(String(decoding: try Self.body(dockerOnly), as: UTF8.self).contains("MANIFEST_UNKNOWN"))
        let both = Self.get(routes, "/v2/app/manifests/1", accept: [
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.9",
        ])
        #expect(both.status == 200)

        for method in ["PUT", "POST", "PATCH", "DELETE"] {
            let r = Self.get(routes, "/v2/app/blobs/uploads/", method: method)
            #expect(r.status == 405)
            #expect(String(decoding: try Self.body(r), as: UTF8.self).contains(#""code":"UNSUPPORTED""#))
        }
        #expect(Self.get(routes, "/v2/nothere/manifests/1").status == 404)
        #expect(String(decoding: try Self.body(Self.get(routes, "/v2/nothere/manifests/1")), as: UTF8.self).contains("NAME_UNKNOWN"))
        #expect(String(decoding: try Self.body(Self.get(routes, "/v2/app/manifests/9")), as: UTF8.self).contains("MANIFEST_UNKNOWN"))
        #expect(String(decoding: try Self.body(Self.get(routes, "/v2/app/blobs/sha256:\(String(repeating: "0", count: 64))")), as: UTF8.self).contains("BLOB_UNKNOWN"))
        let referrers = Self.get(routes, "/v2/app/referrers/\(Kit.sha(archive.config))")
        #expect(referrers.status == 200)
        #expect(String(decoding: try Self.body(referrers), as: UTF8.self).contains(#""manifests":[]"#))
    }

    /// The region sink keeps a place only when the bytes there are the stream's.
    @Test func aPlaceWhoseBytesDifferIsRefused() throws {
        let dir = try Kit.TempDir()
        let path = dir.file("f")
        try Data("0123456789abcdef".utf8).write(to: URL(fileURLWithPath: path))
        let sink = try RegionSink(temporaryDirectory: dir.path)
        let good = PlacedReader(DataReader(Data("456789".utf8)), region: FileRegion(path: path, offset: 4, length: 6))
        let (digest, size) = try sink.put(good, expected: nil)
        #expect(size == 6)
        #expect(sink.region(digest) == FileRegion(path: path, offset: 4, length: 6))
        let shifted = PlacedReader(DataReader(Data("456789".utf8)), region: FileRegion(path: path, offset: 5, length: 6))
        #expect(throws: BaleError.self) { try sink.put(shifted, expected: nil) }
        let short = PlacedReader(DataReader(Data("4567".utf8)), region: FileRegion(path: path, offset: 4, length: 6))
        #expect(throws: BaleError.self) { try sink.put(short, expected: nil) }
    }

    /// A Docker 25+ style archive (blobs/sha256/ members) with a small gzip layer: kept by place, not as
    /// a file, and still checked against the config's DiffID (a wrong one stops serve at start).
    @Test(arguments: [true, false])
    func aLayerKeptByPlaceIsStillCheckedAgainstItsDiffID(matching: Bool) throws {
        let dir = try Kit.TempDir()
        let plain = try Kit.tar([.file("big.bin", Kit.noise(100_000))])
        let layer = try Kit.tar([.file("big.bin", Kit.noise(100_000))], compression: .gzip)
        let config = Kit.config(diffIDs: [matching ? Kit.sha(plain) : Kit.sha(Data("other".utf8))])
        let manifest = Data("""
            [{"Config":"blobs/sha256/\(Kit.sha(config).encoded)","RepoTags":["app:1"],"Layers":["blobs/sha256/\(Kit.sha(layer).encoded)"]}]
            """.utf8)
        let path = dir.file("a.tar")
        try Kit.tar([
            .file("blobs/sha256/\(Kit.sha(config).encoded)", config), .file("blobs/sha256/\(Kit.sha(layer).encoded)", layer),
            .file("manifest.json", manifest),
        ]).write(to: URL(fileURLWithPath: path))
        let archive = Archive(dir: dir, path: path, layer: layer, config: config)
        guard matching else {
            let error = Kit.error { _ = try Self.content(archive) }
            #expect(error?.message.contains("invalid diffID") == true, "\(String(describing: error))")
            return
        }
        let content = try Self.content(archive)
        defer { content.close() }
        let served = Self.get(RegistryRoutes(content: content), "/v2/app/blobs/\(Kit.sha(layer))")
        guard case .file(let region) = served.body else {
            Issue.record("the layer is not served from a file region")
            return
        }
        #expect(region.path == path)
        #expect(try Self.read(region) == layer)
    }

    /// OCI 1.1 referrers: an untagged manifest in an OCI layout whose `subject` is the tagged image is
    /// listed for it (and filtered by artifactType), and is pullable by digest from that repository.
    @Test func referrersOfAnImageInALayout() throws {
        let dir = try Kit.TempDir()
        let root = dir.file("layout")
        try FileManager.default.createDirectory(atPath: root + "/blobs/sha256", withIntermediateDirectories: true)
        func put(_ data: Data) throws -> Digest {
            let digest = Kit.sha(data)
            try data.write(to: URL(fileURLWithPath: root + "/blobs/sha256/" + digest.encoded))
            return digest
        }
        let layer = try Kit.layer(["a": "1"])
        let config = Kit.config(diffIDs: [Kit.sha(layer)])
        let image = Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(try put(config))","size":\(config.count)},\
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(try put(layer))","size":\(layer.count)}]}
            """.utf8)
        let imageDigest = try put(image)
        let empty = Data("{}".utf8)
        let signature = Data("signed".utf8)
        let artifact = Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig",\
            "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\(try put(empty))","size":2},\
            "layers":[{"mediaType":"application/vnd.example.sig.v1","digest":"\(try put(signature))","size":\(signature.count)}],\
            "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(imageDigest)","size":\(image.count)},\
            "annotations":{"org.example":"yes"}}
            """.utf8)
        let artifactDigest = try put(artifact)
        try Data("""
            {"schemaVersion":2,"manifests":[\
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(imageDigest)","size":\(image.count),\
            "annotations":{"org.opencontainers.image.ref.name":"app:1"}},\
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(artifactDigest)","size":\(artifact.count)}]}
            """.utf8).write(to: URL(fileURLWithPath: root + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: root + "/oci-layout"))

        let context = LocationContext(store: { throw BaleError(.usage, "no store here") }, temporaryDirectory: dir.path)
        let content = try ServedContent(locations: [Location(parsing: "oci:\(root)")], context: context) { _ in }
        defer { content.close() }
        let routes = RegistryRoutes(content: content)

        let all = Self.get(routes, "/v2/app/referrers/\(imageDigest)")
        #expect(all.status == 200)
        #expect(Self.header(all, "Content-Type") == MediaType.ociIndex.rawValue)
        let index = try JSON.decode(Index.self, from: try Self.body(all), what: "referrers")
        #expect(index.manifests.map(\.digest) == [artifactDigest])
        #expect(index.manifests.first?.artifactType == "application/vnd.example.sig")
        #expect(index.manifests.first?.annotations == ["org.example": "yes"])
        #expect(index.manifests.first?.size == Int64(artifact.count))

        let filtered = Self.get(routes, "/v2/app/referrers/\(imageDigest)?artifactType=application/vnd.example.sbom")
        #expect(Self.header(filtered, "OCI-Filters-Applied") == "artifactType")
        #expect(try JSON.decode(Index.self, from: try Self.body(filtered), what: "referrers").manifests.isEmpty)
        let kept = Self.get(routes, "/v2/app/referrers/\(imageDigest)?artifactType=application/vnd.example.sig")
        #expect(try JSON.decode(Index.self, from: try Self.body(kept), what: "referrers").manifests.count == 1)

        #expect(try Self.body(Self.get(routes, "/v2/app/manifests/\(artifactDigest)")) == artifact)
        #expect(try Self.body(Self.get(routes, "/v2/app/blobs/\(Kit.sha(signature))")) == signature)
    }
}
