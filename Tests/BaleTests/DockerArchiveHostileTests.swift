import Bale
import BaleCore
import BaleIO
import Foundation
import Testing


/// Hostile and broken archives: each fails with its own message naming the archive, and the store is
/// exactly as before (index.json bytes, blob files, ingest area).
@Suite struct DockerArchiveHostileTests {
    /// A case: the archive bytes and a piece of the message it must fail with.
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var archive: @Sendable () throws -> Data
        var message: String
        var description: String { name }
    }

    /// Replaces members of a member list by path.
    static func replacing(_ members: [DAKit.Member], _ path: String, with new: DAKit.Member?) -> [DAKit.Member] {
        members.compactMap { member in
            switch member {
            case .file(let p, _) where p == path, .symlink(let p, _) where p == path: return new
            default: return member
            }
        }
    }

    static let cases: [Case] = [
        Case(name: "member path with ..", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            return try DAKit.tar([.file("../evil.json", Data("{}".utf8))] + members)
        }, message: #"member "../evil.json": path escapes the archive root"#),
        Case(name: "absolute member path", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            return try DAKit.tar(members + [.file("/etc/cron.d/x", Data("x".utf8))])
        }, message: #"member "/etc/cron.d/x": absolute path"#),
        Case(name: "layer symlink out of the archive", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            let v1 = DAKit.sha(Data("b1".utf8)).encoded
            return try DAKit.tar(replacing(members, "\(v1)/layer.tar", with: .symlink("\(v1)/layer.tar", "../../../etc/shadow")))
        }, message: #"link target "../../../etc/shadow" escapes the archive root"#),
        Case(name: "layer bytes not matching the diffID", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            let v1 = DAKit.sha(Data("a2".utf8)).encoded
            let other = try DAKit.layer(["app/a": "tampered"])
            return try DAKit.tar(replacing(members, "\(v1)/layer.tar", with: .file("\(v1)/layer.tar", other)))
        }, message: "invalid diffID for layer 1"),
        Case(name: "compressed layer bytes not matching the diffID", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive(compressedTop: true)
            let top = DAKit.sha(Data("b2".utf8)).encoded
            let other = try DAKit.layer(["app/b": "tampered"], compression: .gzip)
            return try DAKit.tar(replacing(members, "\(top)/layer.tar", with: .file("\(top)/layer.tar", other)))
        }, message: "its uncompressed content hashes to"),
        Case(name: "blob not matching its digest", archive: {
            let (members, _, _) = try DockerArchiveTests.docker25Archive()
            let layer = try DAKit.layer(["srv/app": "app"])
            let path = "blobs/sha256/\(DAKit.sha(layer).encoded)"
            return try DAKit.tar(replacing(members, path, with: .file(path, try DAKit.layer(["srv/app": "evil"]))))
        }, message: "content does not match the digest its name gives"),
        Case(name: "large blob not matching its digest", archive: {
            let big = Data(repeating: 0x61, count: 5 << 20)
            let digest = DAKit.sha(Data("something else".utf8))
            let (members, _, _) = try DockerArchiveTests.docker25Archive()
            return try DAKit.tar([.file("blobs/sha256/\(digest.encoded)", big)] + members)
        }, message: "content does not match the digest (it hashes to"),
        Case(name: "manifest.json naming a missing file", archive: {
            try DAKit.tar([.file("manifest.json", Data(#"[{"Config":"nothere.json","RepoTags":["x:1"],"Layers":[]}]"#.utf8))])
        }, message: #"manifest.json names "nothere.json" (config), which the archive does not contain"#),
        Case(name: "manifest.json path escaping", archive: {
            try DAKit.tar([.file("manifest.json", Data(#"[{"Config":"../c.json","RepoTags":null,"Layers":[]}]"#.utf8))])
        }, message: #"manifest.json: config path: member "../c.json": path escapes"#),
        Case(name: "truncated tar", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            let data = try DAKit.tar([.file("big/layer.tar", DAKit.noise(1 << 20))] + members)
            return data.prefix(data.count / 2)
        }, message: #"member "big/layer.tar": Truncated tar archive"#),
        Case(name: "truncated gzip", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            let data = try DAKit.tar([.file("big/layer.tar", DAKit.noise(1 << 20))] + members, compression: .gzip)
            return data.prefix(data.count / 2)
        }, message: "truncated gzip input"),
        Case(name: "manifest.json over the size cap", archive: {
            try DAKit.tar([.file("manifest.json", Data(repeating: 0x20, count: JSON.maxDocumentSize) + Data("[]".utf8))])
        }, message: "manifest.json is 4194306 bytes, over the 4194304-byte limit for JSON documents"),
        Case(name: "malformed manifest.json", archive: {
            try DAKit.tar([.file("manifest.json", Data(#"[{"Config": "#.utf8))])
        }, message: "manifest.json: invalid JSON"),
        Case(name: "malformed config", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            let config = members.compactMap { m -> String? in if case .file(let p, _) = m, p.hasSuffix(".json"), !p.contains("/") { return p } else { return nil } }[0]
            return try DAKit.tar(replacing(members, config, with: .file(config, Data(#"{"rootfs": 7}"#.utf8))))
        }, message: "invalid JSON: "),
        Case(name: "manifest.json null", archive: {
            try DAKit.tar([.file("manifest.json", Data("null".utf8))])
        }, message: "manifest.json is null"),
        Case(name: "no manifest.json", archive: {
            try DAKit.tar([.file("repositories", Data("{}".utf8))])
        }, message: "invalid archive: does not contain a manifest.json"),
        Case(name: "layers length mismatch", archive: {
            let (members, _, _) = try DockerArchiveTests.legacyArchive()
            let v1 = ["a1", "a2"].map { DAKit.sha(Data($0.utf8)).encoded }
            let config = members.compactMap { m -> String? in if case .file(let p, _) = m, p.hasSuffix(".json"), !p.contains("/") { return p } else { return nil } }[0]
            let manifest = #"[{"Config":"\#(config)","RepoTags":["x:1"],"Layers":["\#(v1[0])/layer.tar"]}]"#
            return try DAKit.tar(replacing(members, "manifest.json", with: .file("manifest.json", Data(manifest.utf8))))
        }, message: "invalid manifest, layers length mismatch"),
        // manifest.json first, then an unnamed member, then a hard link to it that manifest.json names.
        Case(name: "hard link after manifest.json to a member it passed over", archive: {
            let layer = try DAKit.layer(["etc/x": "x"])
            let config = DAKit.config(diffIDs: [DAKit.sha(layer)])
            let items = #"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l1/layer.tar"]}]"#
            return try DAKit.tar([.file("manifest.json", Data(items.utf8)), .file("c.json", config),
                                  .file("l2/real.tar", layer), .hardlink("l1/layer.tar", "l2/real.tar")])
        }, message: #"a link to member "l2/real.tar", which came after manifest.json without being named there and was passed over"#),
        // The first layer passes its check (its uncompressed size is learnt) before the second fails.
        Case(name: "second layer of a layout not matching the diffID", archive: {
            let (l1, l2) = (try DAKit.layer(["etc/one": "1"]), try DAKit.layer(["etc/two": "2"]))
            let config = DAKit.config(diffIDs: [DAKit.sha(l1), DAKit.sha(l1)])
            let manifest = Data("""
                {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
                 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(DAKit.sha(config))","size":\(config.count)},
                 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(DAKit.sha(l1))","size":\(l1.count)},
                           {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(DAKit.sha(l2))","size":\(l2.count)}]}
                """.utf8)
            let index = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(DAKit.sha(manifest))","size":\#(manifest.count)}]}"#
            return try DAKit.tar([.file("oci-layout", Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
                                  .file("index.json", Data(index.utf8))]
                                 + [l1, l2, config, manifest].map { .file("blobs/sha256/\(DAKit.sha($0).encoded)", $0) })
        }, message: "invalid diffID for layer 1 (sha256:"),
    ]

    @Test(arguments: cases)
    func failsCleanlyAndLeavesTheStoreAsItWas(_ c: Case) throws {
        let f = try StoreFixture()
        // A store that already holds something.
        try f.image(layers: [try DAKit.layer(["keep": "me"])], names: ["keep:1"])
        let before = try DAKit.snapshot(f.store)
        let dir = try DAKit.TempDir()
        let file = dir.file("hostile.tar")
        try c.archive().write(to: URL(fileURLWithPath: file))

        let error = DAKit.error { try DAKit.load(path: file, into: f.store) }
        let message = try #require(error?.message)
        #expect(message.contains(c.message), "\(c.name): \(message)")
        #expect(message.hasPrefix("docker-archive:\(file): "), "\(c.name): \(message)")
        #expect(!message.contains("\n"))
        #expect(try DAKit.snapshot(f.store) == before, "\(c.name)")
        // The store is usable afterwards: a good archive loads.
        let (members, ids, _) = try DockerArchiveTests.legacyArchive()
        try DAKit.tar(members).write(to: URL(fileURLWithPath: dir.file("good.tar")))
        try DAKit.load(path: dir.file("good.tar"), into: f.store)
        #expect(Set(try DAKit.stored(f.store).map(\.id)).isSuperset(of: ids))
    }

    @Test func everyCaseHasItsOwnMessage() {
        #expect(Set(Self.cases.map(\.message)).count == Self.cases.count)
    }
}
