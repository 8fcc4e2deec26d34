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

    /// Latin-1 bytes: "é" as the single byte 0xE9, "ÿ" as 0xFF.
    static func latin1(_ text: String) -> RawPath {
        RawPath(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
    }

    /// Every path under `dir` (relative, as bytes), read with readdir: names that are not UTF-8 included.
    static func rawTree(_ dir: String, _ relative: RawPath = "") -> [RawPath] {
        let full = relative.isEmpty ? RawPath(dir) : RawPath(dir).appending(relative)
        guard let handle = full.withCString({ opendir($0) }) else { return [] }
        defer { closedir(handle) }
        var out: [RawPath] = []
        while let item = readdir(handle) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { RawPath(bytes: $0.prefix { $0 != 0 }) }
            guard name != "." && name != ".." else { continue }
            out.append(relative.appending(name))
            if item.pointee.d_type == DT_DIR { out += rawTree(dir, relative.appending(name)) }
        }
        return out.sorted()
    }

    /// A root filesystem with Latin-1 names (a directory, files, a symlink to such a name, a hard link
    /// to one) and a second layer whose whiteout names one: import accepts it, export gives the names
    /// byte for byte (tar and directory), an unchanged export commits to an empty layer, and a change
    /// and a deletion commit to a member and a whiteout with the same bytes.
    @Test func latin1NamesRoundTripThroughImportExportAndCommit() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let when = TarTime(seconds: 1_600_000_000)
        let (dir, file, doc, link, hard) = (Self.latin1("d\u{ff}"), Self.latin1("d\u{ff}/caf\u{e9}"),
                                            Self.latin1("doc\u{e9}"), Self.latin1("lnk\u{e9}"), Self.latin1("hard\u{e9}"))
        let lower = try S.tar { w in
            try w.writeDirectory(path: RawPath(dir.bytes + [0x2f]), mtime: when)
            try w.writeFile(path: file, data: Data("one".utf8), mtime: when)
            try w.writeFile(path: doc, data: Data("doc".utf8), mtime: when)
            try w.writeSymlink(path: link, target: file, mtime: when)
            try w.writeHardlink(path: hard, target: file, mtime: when)
        }
        let upper = try S.tar { w in try w.writeFile(path: RawPath(Array(".wh.".utf8) + doc.bytes), data: Data(), mtime: when) }
        try lower.write(to: URL(fileURLWithPath: root + "/lower.tar"))
        var options = Self.options()
        options.names = [try Reference(parsing: "latin:1")]
        _ = try store.importRootfs(.file(root + "/lower.tar"), options: options)
        try S.image(store, layers: [lower, upper], name: "latin:2")

        // export -o: the flattened tree, names and link targets as bytes, the whiteout applied.
        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let exported = try store.exportRootfs("latin:2", toTar: fd)
        close(fd)
        #expect(exported.refused.isEmpty && exported.warnings.isEmpty, "\(exported)")
        let members = try Self.members(root + "/out.tar")
        #expect(members.map(\.path) == [RawPath(dir.bytes + [0x2f]), file, link, hard], "\(members.map(\.path))")
        #expect(members.first { $0.path == link }?.linkTarget == file)
        #expect(members.first { $0.path == hard }.map { $0.kind == .hardlink && $0.linkTarget == file } == true)
        let single = try store.exportRootfs("latin:1", toTar: open(root + "/one.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644))
        #expect(single.refused.isEmpty)
        #expect(try Self.members(root + "/one.tar").map(\.path).contains(doc))

        // export --dir: files with those exact names.
        let edit = root + "/edit"
        _ = try store.exportRootfs("latin:2", toDirectory: edit)
        #expect(Self.rawTree(edit) == [dir, file, hard, link])
        var target = [CChar](repeating: 0, count: 64)
        let n = RawPath(edit).appending(link).withCString { readlink($0, &target, 63) }
        #expect(RawPath(bytes: target.prefix(max(n, 0)).map { UInt8(bitPattern: $0) }) == file)

        // commit of the unchanged tree: nothing; after a change and a deletion: a member and a whiteout.
        options.names = [try Reference(parsing: "latin:3")]
        let unchanged = try store.commitRootfs(base: "latin:2", input: .directory(edit), options: options)
        #expect(try Self.members(store.blobPath(unchanged.layer.digest)).isEmpty)
        let changed = RawPath(edit).appending(file).withCString { open($0, O_WRONLY | O_APPEND) }
        #expect(write(changed, "more", 4) == 4)
        close(changed)
        #expect(RawPath(edit).appending(link).withCString { unlink($0) } == 0)
        options.names = [try Reference(parsing: "latin:4")]
        let commit = try store.commitRootfs(base: "latin:2", input: .directory(edit), options: options)
        let diff = try Self.members(store.blobPath(commit.layer.digest)).map(\.path)
        #expect(Set(diff) == [RawPath(dir.bytes + [0x2f]), file, hard, RawPath(Array(".wh.".utf8) + link.bytes)], "\(diff)")
        _ = try store.exportRootfs("latin:4", toDirectory: root + "/after")
        #expect(Self.rawTree(root + "/after") == [dir, file, hard])
    }

    /// The headers of a (possibly compressed) tar.
    static func members(_ path: String) throws -> [TarEntry] {
        let reader = try TarReader(path: path)
        var out: [TarEntry] = []
        while let entry = try reader.next() { out.append(entry) }
        return out
    }
}
