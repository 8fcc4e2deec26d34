@testable import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// `registry-tree:` written and read without a registry: the exact paths and bytes of the link files,
/// merging, taking back a failed commit, the names read back, and damaged trees.
@Suite struct RegistryTreeTests {
    let fixture: StoreFixture
    let tree: String
    var v2: String { tree + "/docker/registry/v2" }

    init() throws {
        fixture = try StoreFixture()
        tree = fixture.root + "-tree"
    }

    func copy(_ from: String, _ to: String, options: CopyOptions = CopyOptions()) throws -> CopyReport {
        try StoreCopyTests.copy(from, to, fixture, options: options)
    }

    func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: v2 + "/" + path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every file under the tree, relative to `docker/registry/v2`.
    func files() -> [String] {
        let all = FileManager.default.enumerator(atPath: v2)?.compactMap { $0 as? String } ?? []
        return all.filter { p in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: v2 + "/" + p, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    func manifest(_ d: Descriptor) throws -> Manifest {
        try JSON.decode(Manifest.self, from: fixture.store.readDocument(d), what: "manifest")
    }

    @Test func writesTheLinkFilesExactlyAsTheRegistryDoes() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let app = try fixture.image(layers: [Data("a".utf8), Data("b".utf8)], names: ["app:1"])
        let (index, children) = try StoreCopyTests.putIndex(fixture, name: "team/multi:2")
        _ = try copy("app:1", "registry-tree:\(tree)")
        _ = try copy("team/multi:2", "registry-tree:\(tree)")

        let m = try manifest(app.descriptor)
        var expected: [String] = []
        func blob(_ d: Digest) -> String { "blobs/sha256/\(d.encoded.prefix(2))/\(d.encoded)/data" }
        func link(_ repo: String, _ kind: String, _ d: Digest) -> String {
            "repositories/\(repo)/\(kind)/sha256/\(d.encoded)/link"
        }
        // app:1 is docker.io/library/app:1: repository library/app, as docker's registry stores it.
        for d in [m.config.digest] + m.layers.map(\.digest) {
            expected += [blob(d), link("library/app", "_layers", d)]
        }
        expected += [blob(app.descriptor.digest), link("library/app", "_manifests/revisions", app.descriptor.digest),
                     "repositories/library/app/_manifests/tags/1/current/link",
                     link("library/app/_manifests/tags/1", "index", app.descriptor.digest)]
        // The index and both children are revisions; the children's configs and layers are in _layers.
        expected += [blob(index.digest), link("team/multi", "_manifests/revisions", index.digest),
                     "repositories/team/multi/_manifests/tags/2/current/link",
                     link("team/multi/_manifests/tags/2", "index", index.digest)]
        for child in children {
            let cm = try manifest(child)
            expected += [blob(child.digest), link("team/multi", "_manifests/revisions", child.digest)]
            for d in [cm.config.digest] + cm.layers.map(\.digest) {
                expected += [blob(d), link("team/multi", "_layers", d)]
            }
        }
        // Exactly these files: no manifest in _layers, no temp file left.
        #expect(files() == expected.sorted())
        // A link file is the digest's text, no newline.
        #expect(read("repositories/library/app/_manifests/tags/1/current/link") == app.descriptor.digest.string)
        #expect(read(link("library/app", "_layers", m.layers[0].digest)) == m.layers[0].digest.string)
        #expect(read("repositories/team/multi/_manifests/tags/2/current/link") == index.digest.string)
        #expect(read(blob(app.descriptor.digest)).map { Data($0.utf8) } == (try fixture.store.readDocument(app.descriptor)))
    }

    /// The order a registry serving the tree needs: `_layers`, then revisions children first, the tag
    /// last (a new tag's folder moved in whole; an existing tag's index link, then `current`).
    @Test func linksAreWrittenChildrenFirstAndTheTagLast() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let (index, children) = try StoreCopyTests.putIndex(fixture, name: "multi:1")
        func copyWatched() throws -> [String] {
            let destination = try RegistryTreeDestination(root: tree, reference: "m:1")
            _ = try Copier().copy(from: StoreSource(store: fixture.store, selecting: ["multi:1"]), to: destination)
            return destination.written.map { String($0.dropFirst(v2.count + "/repositories/m/".count)) }
        }
        let first = try copyWatched()
        let layers = first.filter { $0.hasPrefix("_layers/") }
        #expect(layers.count == 4)
        #expect(Set(first.dropFirst(4).prefix(2)) == Set(children.map { "_manifests/revisions/sha256/\($0.digest.encoded)/link" }))
        #expect(Array(first.dropFirst(6)) == ["_manifests/revisions/sha256/\(index.digest.encoded)/link", "_manifests/tags/1"])
        // Again, once the tag exists and points elsewhere: its index link, then current; what is
        // already right is not written again.
        let other = "sha256:" + String(repeating: "0", count: 64)
        try Data(other.utf8).write(to: URL(fileURLWithPath: v2 + "/repositories/m/_manifests/tags/1/current/link"))
        #expect(try copyWatched() == ["_manifests/tags/1/current/link"])
        try Data(other.utf8).write(to: URL(fileURLWithPath: v2 + "/repositories/m/_manifests/tags/1/current/link"))
        try FileManager.default.removeItem(atPath: v2 + "/repositories/m/_manifests/tags/1/index")
        #expect(try copyWatched() == ["_manifests/tags/1/index/sha256/\(index.digest.encoded)/link", "_manifests/tags/1/current/link"])
    }

    @Test func aDestinationNameIsTheRepositoryAsWrittenAndATagMoves() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let one = try fixture.image(layers: [Data("1".utf8)], names: ["one:1"])
        let two = try fixture.image(layers: [Data("2".utf8)], names: ["two:1"])
        _ = try copy("one:1", "registry-tree:\(tree):team/app")
        _ = try copy("two:1", "registry-tree:\(tree):other:5")
        let before = files().filter { $0.hasPrefix("repositories/other/") }.map { ($0, read($0)) }
        _ = try copy("two:1", "registry-tree:\(tree):team/app")
        // team/app:latest moved to two; the tag's index keeps both digests; other:5 is untouched.
        #expect(read("repositories/team/app/_manifests/tags/latest/current/link") == two.descriptor.digest.string)
        for d in [one.descriptor.digest, two.descriptor.digest] {
            #expect(read("repositories/team/app/_manifests/tags/latest/index/sha256/\(d.encoded)/link") == d.string)
        }
        #expect(files().filter { $0.hasPrefix("repositories/other/") }.map { ($0, read($0)) }.elementsEqual(before) { $0 == $1 })
        #expect(throws: BaleError.self) { try copy("one:1", "registry-tree:\(tree):x@\(one.descriptor.digest)") }
    }

    @Test func aFailedCommitTakesBackItsLinks() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        _ = try fixture.image(layers: [Data("1".utf8)], names: ["one:1"])
        _ = try fixture.image(layers: [Data("2".utf8)], names: ["two:1"])
        _ = try copy("one:1", "registry-tree:\(tree):app:1")
        let before = files()
        let current = "repositories/app/_manifests/tags/1/current/link"
        let oldTag = read(current)
        // The tag's index folder is a file: the commit fails at the tag, after the other links.
        let tagIndex = v2 + "/repositories/app/_manifests/tags/1/index"
        try FileManager.default.removeItem(atPath: tagIndex)
        #expect(FileManager.default.createFile(atPath: tagIndex, contents: Data("x".utf8)))
        #expect(throws: BaleError.self) { try copy("two:1", "registry-tree:\(tree):app:1") }
        // Only blob data (invisible without links) was added; no link, and the tag as it was.
        let added = Set(files()).subtracting(before + ["repositories/app/_manifests/tags/1/index"])
        #expect(added.allSatisfy { $0.hasPrefix("blobs/") && $0.hasSuffix("/data") }, "\(added.sorted())")
        #expect(!added.isEmpty)
        #expect(read(current) == oldTag)
    }

    @Test func readsEveryTagOfEveryRepositoryWithThePullNames() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let one = try fixture.image(layers: [Data("1".utf8)], names: ["one:1"])
        let two = try fixture.image(layers: [Data("2".utf8)], names: ["two:1"])
        _ = try copy("one:1", "registry-tree:\(tree):library/alpine:3")
        _ = try copy("one:1", "registry-tree:\(tree):team/app:latest")
        _ = try copy("two:1", "registry-tree:\(tree):team/app-b:1")
        _ = try copy("two:1", "registry-tree:\(tree):team/app/sub:2")
        func images(_ location: String) throws -> [SourceImage] {
            let source = try Location(parsing: location).source(StoreCopyTests.context(fixture))
            defer { source.close() }
            return try source.images()
        }
        let all = try images("registry-tree:\(tree)")
        // Repositories component by component (team/app/sub before team/app-b), as the catalog orders them.
        #expect(all.map(\.descriptor.digest) == [one.descriptor.digest, two.descriptor.digest])
        #expect(all[0].names.map(\.familiar) == ["alpine:3", "team/app:latest"])
        #expect(all[1].names.map(\.familiar) == ["team/app/sub:2", "team/app-b:1"])
        #expect(try images("registry-tree:\(tree):team/app").map(\.names) == [[try Reference(parsing: "team/app:latest")]])
        let byDigest = try images("registry-tree:\(tree):team/app-b@\(two.descriptor.digest)")
        #expect(byDigest.map(\.descriptor) == [two.descriptor] && byDigest[0].names.isEmpty)
        // A round trip into another store keeps the digest and names the image as a pull would.
        let other = try StoreFixture()
        let context = StoreCopyTests.context(other)
        _ = try Copier().copy(from: Location(parsing: "registry-tree:\(tree):library/alpine:3"),
                              to: Location(parsing: "store:"), context: context)
        #expect(try other.store.resolve("alpine:3", in: other.store.images().images).descriptor.digest == one.descriptor.digest)
    }

    @Test func aSymbolicLinkAmongTheRepositoriesIsNotFollowed() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        _ = try fixture.image(layers: [Data("1".utf8)], names: ["one:1"])
        _ = try copy("one:1", "registry-tree:\(tree):app:1")
        try FileManager.default.createSymbolicLink(atPath: v2 + "/repositories/app/again", withDestinationPath: ".")
        let source = try Location(parsing: "registry-tree:\(tree)").source(StoreCopyTests.context(fixture))
        defer { source.close() }
        #expect(try source.images().map { $0.names.map(\.familiar) } == [["app:1"]])
    }

    @Test func aDamagedTreeNamesTheTreeTheRepositoryAndTheDigest() throws {
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let one = try fixture.image(layers: [Data("1".utf8)], names: ["one:1"])
        let layer = try manifest(one.descriptor).layers[0].digest
        let location = "registry-tree:\(tree)"
        func failure(_ from: String) -> String {
            do {
                let other = try StoreFixture()
                _ = try Copier().copy(from: Location(parsing: from), to: Location(parsing: "store:"),
                                      context: StoreCopyTests.context(other))
                return "no error"
            } catch { return "\(error)" }
        }
        func fresh() throws {
            try? FileManager.default.removeItem(atPath: tree)
            _ = try copy("one:1", "\(location):app:1")
        }
        let layerLink = v2 + "/repositories/app/_layers/sha256/\(layer.encoded)/link"
        try fresh()
        try Data("sha256:nothex\n".utf8).write(to: URL(fileURLWithPath: layerLink))
        var message = failure("\(location):app:1")
        #expect(message.contains(location) && message.contains("repository app") && message.contains("\(layer)")
                && message.contains("malformed link"), "\(message)")
        #expect(!message.contains("\n"))

        try fresh()
        try FileManager.default.removeItem(atPath: v2 + "/blobs/sha256/\(layer.encoded.prefix(2))/\(layer.encoded)/data")
        message = failure("\(location):app:1")
        #expect(message.contains(location) && message.contains("repository app") && message.contains("\(layer)")
                && message.contains("missing"), "\(message)")

        try fresh()
        try FileManager.default.removeItem(atPath: layerLink)
        message = failure("\(location):app:1")
        #expect(message.contains("repository app") && message.contains("\(layer)") && message.contains("not linked"), "\(message)")

        try fresh()
        let dangling = try Digest(sha256Hex: String(repeating: "ab", count: 32))
        try Data(dangling.string.utf8).write(to: URL(fileURLWithPath: v2 + "/repositories/app/_manifests/tags/1/current/link"))
        message = failure(location)
        #expect(message.contains(location) && message.contains("repository app") && message.contains("\(dangling)"), "\(message)")
    }
}
