@testable import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct RootfsImportCommitTests {
    typealias S = RootfsTestSupport

    static func options(jobs: Int = 2, epoch: Int64? = nil) -> RootfsImageOptions {
        var o = RootfsImageOptions(compression: GzipSettings(level: 6, jobs: jobs))
        o.sourceDateEpoch = epoch
        o.platform = Platform(os: "linux", architecture: "amd64")
        return o
    }

    /// A small tree with every kind bale archives.
    static func makeTree(_ dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/etc/sub", withIntermediateDirectories: true)
        try Data("root:x:0:0\n".utf8).write(to: URL(fileURLWithPath: dir + "/etc/passwd"))
        try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: dir + "/big"))
        try fm.createSymbolicLink(atPath: dir + "/etc/link", withDestinationPath: "passwd")
        #expect(link(dir + "/etc/passwd", dir + "/etc/hard") == 0)
        #expect(chmod(dir + "/big", 0o751) == 0)
        #expect(mkfifo(dir + "/etc/sub/fifo", 0o640) == 0)
    }

    /// Checks a gzip layer blob with the real gzip: `gzip -t` passes and `gzip -dc | sha256sum` is the diffID.
    static func checkGzipLayer(_ store: Store, _ result: CompressionResult) throws {
        let path = store.blobPath(result.digest)
        #expect(try S.shell("gzip -t \(path)").status == 0)
        let sum = try S.shell("gzip -dc \(path) | sha256sum").output.prefix(64)
        #expect("sha256:" + sum == result.diffID.string)
    }

    @Test func importingTheSameDirectoryOrTarTwiceGivesTheSameImageID() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.makeTree(root + "/src")
        let store = try Store(root: root + "/store")
        let a = try store.importRootfs(.directory(root + "/src"), options: Self.options(jobs: 1))
        let b = try store.importRootfs(.directory(root + "/src"), options: Self.options(jobs: 3))
        #expect(a.id == b.id)
        #expect(a.layer == b.layer)
        try Self.checkGzipLayer(store, a.layer)

        #expect(try S.shell("tar -C \(root)/src -cf \(root)/src.tar . && gzip -k \(root)/src.tar && xz -k \(root)/src.tar && zstd -q \(root)/src.tar").status == 0)
        let plain = try store.importRootfs(.file(root + "/src.tar"), options: Self.options())
        let again = try store.importRootfs(.file(root + "/src.tar"), options: Self.options())
        #expect(plain.id == again.id)
        try Self.checkGzipLayer(store, plain.layer)
        // The layer is the decompressed input, verbatim: the diffID is the tar file's own SHA-256.
        #expect("sha256:" + (try S.shell("sha256sum \(root)/src.tar").output.prefix(64)) == plain.layer.diffID.string)
        for compressed in ["src.tar.gz", "src.tar.xz", "src.tar.zst"] {
            let r = try store.importRootfs(.file(root + "/" + compressed), options: Self.options())
            #expect(r.layer.diffID == plain.layer.diffID, "\(compressed)")
            #expect(r.id == plain.id)
        }
    }

    @Test func importConfigHasPlatformChangesMessageAndADeterministicCreatedTime() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.makeTree(root + "/src")
        let store = try Store(root: root + "/store")
        var options = Self.options(epoch: 1_700_000_000)
        options.changes = ["ENV A=b", "CMD [\"/bin/true\"]"]
        options.message = "msg"
        options.platform = try Platform(parsing: "linux/arm64")
        options.names = [try Reference(parsing: "x:1")]
        let result = try store.importRootfs(.directory(root + "/src"), options: options)
        let image = try store.resolve("x:1", in: store.images().images)
        #expect(image.id == result.id)
        #expect(image.manifest.value.mediaType == .ociManifest)
        #expect(image.manifest.value.layers.map(\.mediaType) == [.ociLayerGzip])
        let text = String(decoding: image.config.bytes, as: UTF8.self)
        #expect(text == #"{"architecture":"arm64","comment":"msg","config":{"Cmd":["/bin/true"],"Env":["A=b"]},"created":"2023-11-14T22:13:20Z","history":[{"comment":"msg","created":"2023-11-14T22:13:20Z"}],"os":"linux","rootfs":{"diff_ids":["\#(result.layer.diffID)"],"type":"layers"},"variant":"v8"}"#)
        // Every member's mtime is clamped to SOURCE_DATE_EPOCH.
        let reader = try TarReader(path: store.blobPath(result.layer.digest))
        while let entry = try reader.next() { #expect(entry.mtime.seconds <= 1_700_000_000) }
    }

    @Test func importRefusesInputThatIsNotATarAndLeavesNoBlob() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data(repeating: 0x41, count: 5000).write(to: URL(fileURLWithPath: root + "/junk"))
        let store = try Store(root: root + "/store")
        let before = try FileManager.default.contentsOfDirectory(atPath: root + "/store/blobs/sha256")
        #expect { _ = try store.importRootfs(.file(root + "/junk"), options: Self.options()) } throws: {
            ($0 as? BaleError)?.message.contains("is not a tar archive") == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/store/blobs/sha256") == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/store/ingest").isEmpty)
    }

    @Test func commitDirectoryRoundTripsThroughExport() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        try RootfsExportTests.multiLayerImage(store)
        let edit = root + "/edit"
        _ = try store.exportRootfs("multi:1", toDirectory: edit)
        let fm = FileManager.default
        try Data("added".utf8).write(to: URL(fileURLWithPath: edit + "/etc/added"))
        try Data("modified!".utf8).write(to: URL(fileURLWithPath: edit + "/etc/passwd"))
        try fm.removeItem(atPath: edit + "/gone-target")          // delete a file
        try fm.removeItem(atPath: edit + "/opt")                  // delete a directory
        try fm.removeItem(atPath: edit + "/var")                  // a symlink becomes a directory
        try fm.createDirectory(atPath: edit + "/var/new", withIntermediateDirectories: true)
        try fm.removeItem(atPath: edit + "/data")                 // a file becomes a directory
        try fm.createDirectory(atPath: edit + "/data", withIntermediateDirectories: true)
        #expect(chmod(edit + "/etc", 0o750) == 0)

        var options = Self.options(epoch: 1_800_000_000)
        options.author = "Jane"
        options.message = "edit"
        options.changes = ["USER app"]
        options.names = [try Reference(parsing: "multi:2")]
        let result = try store.commitRootfs(base: "multi:1", input: .directory(edit), options: options)
        try Self.checkGzipLayer(store, result.layer)

        // Whiteouts for the deletions, nothing for unchanged paths.
        let reader = try TarReader(path: store.blobPath(result.layer.digest))
        var names: [String] = []
        while let e = try reader.next() { names.append(e.path.description) }
        #expect(Set(names) == ["etc/", "etc/added", "etc/passwd", ".wh.gone-target", ".wh.opt", "data/", "var/", "var/new/"])

        let out = root + "/out"
        let (refused, _) = try store.exportRootfs("multi:2", toDirectory: out)
        #expect(refused.isEmpty)
        let (got, want) = (try S.snapshot(out, mtimes: true), try S.snapshot(edit, mtimes: true))
        #expect(got == want)
        for k in Set(got.keys).union(want.keys) where got[k] != want[k] { print("DIFF", k, got[k] ?? "-", want[k] ?? "-") }

        let image = try store.resolve("multi:2", in: store.images().images)
        #expect(image.manifest.value.layers.count == 4)
        guard case .object(let config) = try JSON.decode(JSONValue.self, from: image.config.bytes, what: "config") else {
            Issue.record("config is not an object"); return
        }
        #expect(config["x-unknown"] == .object(["kept": .bool(true)]))
        #expect(config["author"] == .string("Jane"))
        #expect(config["config"] == .object(["Env": .strings(["PATH=/bin"]), "User": .string("app")]))
        #expect(config["rootfs"]?["diff_ids"]?.array?.last == .string(result.layer.diffID.string))
        #expect(config["history"]?.array?.last == .object([
            "created": .string("2027-01-15T08:00:00Z"), "created_by": .string("bale commit"),
            "author": .string("Jane"), "comment": .string("edit"),
        ]))
    }

    @Test func committingAnUnchangedTreeWritesNothingWhateverTheEpochOrSymlinkModes() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let when = TarTime(seconds: 1_600_000_000)
        let layer = try S.tar { w in
            try w.writeDirectory(path: "etc/", mtime: when)
            try w.writeFile(path: "etc/a", data: Data("a".utf8), mtime: when)
            // Some tools record a symlink's mode as 0755; on disk it is always 0777.
            try w.writeEntry(TarEntry(path: "etc/l", kind: .symlink, mode: 0o755, mtime: when, linkTarget: "a"))
        }
        try S.image(store, layers: [layer], name: "base:1")
        _ = try store.exportRootfs("base:1", toDirectory: root + "/edit")
        var options = Self.options(epoch: 1_500_000_000)       // older than every file
        options.names = [try Reference(parsing: "base:2")]
        let result = try store.commitRootfs(base: "base:1", input: .directory(root + "/edit"), options: options)
        let reader = try TarReader(path: store.blobPath(result.layer.digest))
        var names: [String] = []
        while let e = try reader.next() { names.append(e.path.description) }
        #expect(names.isEmpty)
    }

    @Test func importWarnsAboutANameThatReadsAsAWhiteout() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/src/etc", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/src/etc/.wh.notes"))
        let store = try Store(root: root + "/store")
        let result = try store.importRootfs(.directory(root + "/src"), options: Self.options())
        #expect(result.warnings.contains { $0.hasSuffix("src/etc/.wh.notes: a name starting with \".wh.\" is read as a whiteout by every image tool") },
                "\(result.warnings)")
    }

    @Test func commitOfATarKeepsADockerBasesFamily() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let layer = try S.tar { try $0.writeFile(path: "a", data: Data("a".utf8)) }
        let digest = try store.putBlob(layer)
        let config = Data(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(digest)"]}}"#.utf8)
        let configDescriptor = Descriptor(mediaType: .dockerConfig, digest: try store.putBlob(config), size: Int64(config.count))
        let manifest = try JSON.canonical(Manifest(mediaType: .dockerManifest, config: configDescriptor,
                                                   layers: [Descriptor(mediaType: .dockerLayer, digest: digest, size: Int64(layer.count))]))
        try store.addImage(Descriptor(mediaType: .dockerManifest, digest: try store.putBlob(manifest), size: Int64(manifest.count)),
                           names: [try Reference(parsing: "d:1")])
        try S.tar { try $0.writeFile(path: "b", data: Data("b".utf8)) }.write(to: URL(fileURLWithPath: root + "/b.tar"))
        var options = Self.options()
        options.names = [try Reference(parsing: "d:2")]
        let result = try store.commitRootfs(base: "d:1", input: .file(root + "/b.tar"), options: options)
        let image = try store.resolve("d:2", in: store.images().images)
        #expect(image.id == result.id)
        #expect(image.manifest.value.mediaType == .dockerManifest)
        #expect(image.manifest.value.config.mediaType == .dockerConfig)
        #expect(image.manifest.value.layers.map(\.mediaType) == [.dockerLayer, .dockerLayerGzip])
        _ = try store.exportRootfs("d:2", toDirectory: root + "/out")
        #expect(try S.snapshot(root + "/out") == ["a": "file a size=1 mode=644", "b": "file b size=1 mode=644"])
    }
}
