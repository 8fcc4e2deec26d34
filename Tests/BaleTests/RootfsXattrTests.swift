@testable import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// Extended attributes through `import DIR`, `export --dir`, `export -o` and `commit DIR`: file
/// capabilities (`security.capability`, the one attribute moby archives) and attributes that come in a
/// layer (`user.*`, `trusted.*`).
///
/// Setting a file capability needs CAP_SETFCAP. Run without it, the capability tests check that the
/// kernel indeed refuses (EPERM), which is why they cannot go on, and stop there.
@Suite struct RootfsXattrTests {
    typealias S = RootfsTestSupport
    typealias X = ExtendedAttributes

    /// `setcap cap_net_raw+ep`: VFS_CAP_REVISION_2 with the effective flag, permitted bit 13.
    static let netRaw = Data([0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0] + [UInt8](repeating: 0, count: 12))
    /// `setcap cap_net_bind_service+ep`: permitted bit 10.
    static let netBindService = Data([0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0] + [UInt8](repeating: 0, count: 12))

    static func hex(_ data: Data) -> String {
        data.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    static func options(epoch: Int64? = 1_700_000_000, name: String) throws -> RootfsImageOptions {
        var o = RootfsImageOptions(compression: GzipSettings(level: 6, jobs: 2))
        o.sourceDateEpoch = epoch
        o.platform = Platform(os: "linux", architecture: "amd64")
        o.names = [try Reference(parsing: name)]
        return o
    }

    /// Gives `path` the capability `value`. Returns false when the process may not (not root): then
    /// the kernel's refusal is what is checked, and the test cannot go on.
    static func setCapability(_ path: String, _ value: Data = netRaw) throws -> Bool {
        do {
            try X.set(X.capability, value: value, path: path)
            return true
        } catch {
            #expect(geteuid() != 0, "root could not set a capability: \(error)")
            #expect(X.errorNumber(error) == EPERM,
                    "security.capability needs CAP_SETFCAP (root); without it only EPERM is expected: \(error)")
            return false
        }
    }

    /// The xattrs of every member of a (possibly compressed) tar, by cleaned path.
    static func xattrs(ofTar path: String) throws -> [String: [String: Data]] {
        let reader = try TarReader(path: path)
        var out: [String: [String: Data]] = [:]
        while let entry = try reader.next() { out[try SafePath.clean(entry.path).description] = entry.xattrs }
        return out
    }

    /// What Python's tarfile (a reader independent of libarchive) finds in the member's PAX
    /// `SCHILY.xattr.security.capability` record, as hex; "" when absent.
    static func paxCapability(tar path: String, member: String) throws -> String {
        let script = """
            import sys, tarfile
            t = tarfile.open(sys.argv[1])
            v = t.getmember(sys.argv[2]).pax_headers.get('SCHILY.xattr.security.capability')
            print('' if v is None else v.encode('utf-8', 'surrogateescape').hex())
            """
        let result = try S.shell("python3 -c \"\(script)\" '\(path)' '\(member)'")
        #expect(result.status == 0, "python3 tarfile")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A rootfs with a capability-bearing `bin/ping` (also owned by 1000:1000 when root, so a chown on
    /// export would clear the capability if it came last), a plain file and a v3 capability.
    static func makeTree(_ dir: String) throws -> Bool {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try Data("ping".utf8).write(to: URL(fileURLWithPath: dir + "/bin/ping"))
        try Data("plain".utf8).write(to: URL(fileURLWithPath: dir + "/bin/plain"))
        try Data("v3".utf8).write(to: URL(fileURLWithPath: dir + "/bin/v3"))
        #expect(chmod(dir + "/bin/ping", 0o755) == 0)
        if geteuid() == 0 { #expect(chown(dir + "/bin/ping", 1000, 1000) == 0) }
        guard try setCapability(dir + "/bin/ping") else { return false }
        // VFS_CAP_REVISION_3: the v2 fields plus the root ID (1000) of the namespace it belongs to.
        var v3 = netRaw
        v3[3] = 3
        v3.append(contentsOf: [0xe8, 0x03, 0, 0])
        return try setCapability(dir + "/bin/v3", v3)
    }

    @Test func importKeepsTheCapabilityAndExportDirRestoresIt() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        guard try Self.makeTree(root + "/src") else { return }
        let store = try Store(root: root + "/store")
        let result = try store.importRootfs(.directory(root + "/src"), options: Self.options(name: "cap:1"))

        let layer = store.blobPath(result.layer.digest)
        let members = try Self.xattrs(ofTar: layer)
        #expect(members["bin/ping"] == [X.capability: Self.netRaw])
        #expect(members["bin/v3"] == [X.capability: Self.netRaw], "a v3 capability is archived as v2, as moby does")
        #expect(members["bin/plain"] == [:])
        #expect(members["bin"] == [:])
        // A PAX SCHILY.xattr record, the form Go's archive/tar (and so docker) reads.
        #expect(try S.shell("gzip -dc '\(layer)' > '\(root)/layer.tar'").status == 0)
        #expect(try Self.paxCapability(tar: root + "/layer.tar", member: "bin/ping") == Self.hex(Self.netRaw))

        let out = root + "/out"
        let (refused, warnings) = try store.exportRootfs("cap:1", toDirectory: out)
        #expect(refused.isEmpty)
        #expect(warnings.isEmpty)
        #expect(try X.value(X.capability, path: out + "/bin/ping") == Self.netRaw)
        #expect(try X.value(X.capability, path: out + "/bin/v3") == Self.netRaw)
        #expect(try X.value(X.capability, path: out + "/bin/plain") == nil)
        var st = stat()
        #expect(lstat(out + "/bin/ping", &st) == 0 && st.st_uid == 1000 && st.st_mode & 0o7777 == 0o755)
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/getcap") {
            #expect(try S.shell("/usr/sbin/getcap '\(out)/bin/ping'").output.contains("cap_net_raw=ep"))
        }
    }

    @Test func exportToATarKeepsTheCapability() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        guard try Self.makeTree(root + "/src") else { return }
        let store = try Store(root: root + "/store")
        _ = try store.importRootfs(.directory(root + "/src"), options: Self.options(name: "cap:1"))
        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        _ = try store.exportRootfs("cap:1", toTar: fd)
        close(fd)
        let members = try Self.xattrs(ofTar: root + "/out.tar")
        #expect(members["bin/ping"] == [X.capability: Self.netRaw])
        #expect(members["bin/plain"] == [:])
        #expect(try Self.paxCapability(tar: root + "/out.tar", member: "bin/ping") == Self.hex(Self.netRaw))
    }

    @Test func commitDirNoticesACapabilityOnlyChange() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        guard try Self.makeTree(root + "/src") else { return }
        let store = try Store(root: root + "/store")
        _ = try store.importRootfs(.directory(root + "/src"), options: Self.options(name: "cap:1"))
        let edit = root + "/edit"
        _ = try store.exportRootfs("cap:1", toDirectory: edit)

        // Unchanged: an empty layer.
        let same = try store.commitRootfs(base: "cap:1", input: .directory(edit), options: Self.options(name: "cap:2"))
        #expect(try Self.xattrs(ofTar: store.blobPath(same.layer.digest)).isEmpty)

        // Setting an xattr changes neither size nor mtime: only the capability tells.
        #expect(try Self.setCapability(edit + "/bin/ping", Self.netBindService))
        #expect(try S.shell("python3 -c \"import os; os.removexattr('\(edit)/bin/v3', 'security.capability')\"").status == 0)
        #expect(try Self.setCapability(edit + "/bin/plain"))
        let result = try store.commitRootfs(base: "cap:1", input: .directory(edit), options: Self.options(name: "cap:3"))
        let members = try Self.xattrs(ofTar: store.blobPath(result.layer.digest))
        #expect(members == [
            "bin": [:],
            "bin/ping": [X.capability: Self.netBindService],
            "bin/plain": [X.capability: Self.netRaw],
            "bin/v3": [:],
        ])

        let out = root + "/out"
        _ = try store.exportRootfs("cap:3", toDirectory: out)
        #expect(try X.value(X.capability, path: out + "/bin/ping") == Self.netBindService)
        #expect(try X.value(X.capability, path: out + "/bin/plain") == Self.netRaw)
        #expect(try X.value(X.capability, path: out + "/bin/v3") == nil)
    }

    /// A capability that comes in a layer: set as root; without root the export warns and goes on, and
    /// a commit of an edited file keeps the base's capability (the user could not have kept it on disk),
    /// while as root the edit cleared it, as the kernel does on every write, and the layer says so.
    @Test func aLayersCapabilityIsSetAsRootAndAWarningOtherwiseAndCommitFollowsTheDisk() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let layer = try S.tar { w in
            try w.writeDirectory(path: "bin/")
            try w.writeEntry(TarEntry(path: "bin/ping", kind: .file, mode: 0o755, xattrs: [X.capability: Self.netRaw]),
                             data: Data("ping".utf8))
        }
        try S.image(store, layers: [layer], name: "cap:1")
        let edit = root + "/edit"
        let (refused, warnings) = try store.exportRootfs("cap:1", toDirectory: edit)
        #expect(refused.isEmpty)
        if geteuid() == 0 {
            #expect(warnings.isEmpty, "\(warnings)")
            #expect(try X.value(X.capability, path: edit + "/bin/ping") == Self.netRaw)
        } else {
            #expect(warnings == ["bin/ping: extended attribute security.capability not set: Operation not permitted"])
            #expect(try X.value(X.capability, path: edit + "/bin/ping") == nil)
        }

        try Data("ping, edited".utf8).write(to: URL(fileURLWithPath: edit + "/bin/ping"))
        let result = try store.commitRootfs(base: "cap:1", input: .directory(edit), options: Self.options(name: "cap:2"))
        let members = try Self.xattrs(ofTar: store.blobPath(result.layer.digest))
        #expect(members == ["bin": [:], "bin/ping": geteuid() == 0 ? [:] : [X.capability: Self.netRaw]])
    }

    /// Attributes that come in a layer built elsewhere: all are applied; where the kernel refuses one
    /// (user.* on a symlink or FIFO: EPERM), the export warns and goes on.
    @Test func userXattrsOfAHandBuiltLayerAreRestoredAndRefusalsAreWarnings() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let comment = Data("café".utf8)
        let layer = try S.tar { w in
            try w.writeEntry(TarEntry(path: "etc/", kind: .directory, mode: 0o555, xattrs: ["user.dir": Data("d".utf8)]))
            try w.writeEntry(TarEntry(path: "etc/conf", kind: .file, mode: 0o644,
                                      xattrs: ["user.comment": comment, "user.empty": Data()]),
                             data: Data("conf".utf8))
            try w.writeEntry(TarEntry(path: "etc/link", kind: .symlink, mode: 0o777, linkTarget: "conf",
                                      xattrs: ["user.link": Data("l".utf8)]))
            try w.writeEntry(TarEntry(path: "etc/fifo", kind: .fifo, mode: 0o644, xattrs: ["user.fifo": Data("f".utf8)]))
        }
        try S.image(store, layers: [layer], name: "user:1")
        let out = root + "/out"
        let (refused, warnings) = try store.exportRootfs("user:1", toDirectory: out)
        #expect(refused.isEmpty)
        #expect(try X.value("user.comment", path: out + "/etc/conf") == comment)
        #expect(try X.value("user.empty", path: out + "/etc/conf") == Data())
        #expect(try X.value("user.dir", path: out + "/etc") == Data("d".utf8))
        // Never set through the symlink onto its target.
        #expect(try X.value("user.link", path: out + "/etc/conf") == nil)
        #expect(warnings.contains { $0.hasPrefix("etc/link: extended attribute user.link not set") }, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("etc/fifo: extended attribute user.fifo not set") }, "\(warnings)")
        #expect(warnings.count == 2, "\(warnings)")
        var st = stat()
        #expect(lstat(out + "/etc", &st) == 0 && st.st_mode & 0o7777 == 0o555)

        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        _ = try store.exportRootfs("user:1", toTar: fd)
        close(fd)
        let members = try Self.xattrs(ofTar: root + "/out.tar")
        #expect(members["etc"] == ["user.dir": Data("d".utf8)])
        #expect(members["etc/conf"] == ["user.comment": comment, "user.empty": Data()])
        #expect(members["etc/link"] == ["user.link": Data("l".utf8)])
    }

    /// A symlink member's attribute lands on the link itself (root may set trusted.* on a link), never on
    /// what it points to.
    @Test func aSymlinksXattrIsSetOnTheLinkNotItsTarget() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let layer = try S.tar { w in
            try w.writeFile(path: "target", data: Data("t".utf8))
            try w.writeEntry(TarEntry(path: "link", kind: .symlink, mode: 0o777, linkTarget: "target",
                                      xattrs: ["trusted.mark": Data("m".utf8)]))
        }
        try S.image(store, layers: [layer], name: "link:1")
        let out = root + "/out"
        let (_, warnings) = try store.exportRootfs("link:1", toDirectory: out)
        #expect(try X.value("trusted.mark", path: out + "/target") == nil)
        if geteuid() == 0 {
            #expect(try X.value("trusted.mark", path: out + "/link") == Data("m".utf8))
            #expect(warnings.isEmpty, "\(warnings)")
        } else {
            #expect(warnings == ["link: extended attribute trusted.mark not set: Operation not permitted"],
                    "trusted.* needs CAP_SYS_ADMIN")
        }
    }
}
