@testable import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct RootfsExportTests {
    typealias S = RootfsTestSupport

    /// Three layers exercising every flattening rule.
    static func multiLayerImage(_ store: Store) throws {
        let l0 = try S.tar { w in
            try w.writeDirectory(path: "etc/")
            try w.writeFile(path: "etc/passwd", data: Data("root\n".utf8))
            try w.writeFile(path: "etc/hosts", data: Data("localhost\n".utf8))
            try w.writeDirectory(path: "opt/")
            try w.writeFile(path: "opt/a", data: Data("a0".utf8))
            try w.writeDirectory(path: "opt/sub/")
            try w.writeFile(path: "opt/sub/deep", data: Data("deep".utf8))
            try w.writeFile(path: "data", data: Data("shared".utf8), mode: 0o600)
            try w.writeHardlink(path: "data-link", target: "data")
            try w.writeFile(path: "gone-target", data: Data("old content".utf8))
            try w.writeHardlink(path: "keeps-old", target: "gone-target")
            try w.writeDirectory(path: "var/")
            try w.writeFile(path: "var/log", data: Data("log".utf8))
        }
        let l1 = try S.tar { w in
            try w.writeFile(path: "etc/.wh.hosts", data: Data())         // whiteout
            try w.writeDirectory(path: "opt/", mode: 0o700)               // merge, new attributes
            try w.writeFile(path: "opt/.wh..wh..opq", data: Data())        // opaque: a and sub hidden
            try w.writeFile(path: "opt/b", data: Data("b1".utf8))
            try w.writeFile(path: "gone-target", data: Data("new".utf8))   // replaces the link target
            try w.writeFile(path: ".wh.var", data: Data())                  // delete a directory
            try w.writeSymlink(path: "var", target: "/tmp")                // and put a symlink there
            try w.writeSymlink(path: "etc/rel", target: "passwd")
        }
        let l2 = try S.tar { w in
            try w.writeFile(path: "/abs-is-stripped", data: Data("abs".utf8))
            try w.writeFile(path: "./opt/b", data: Data("b2".utf8), mode: 0o755)
            try w.writeFile(path: "data", data: Data("replaced".utf8))      // data-link keeps "shared"
        }
        try S.image(store, layers: [l0, l1, l2], name: "multi:1")
    }

    static let expected: [String: String] = [
        "abs-is-stripped": "file abs size=3 mode=644",
        "data": "file replaced size=8 mode=644",
        "data-link": "file shared size=6 mode=600",
        "etc": "dir mode=755",
        "etc/passwd": "file root\n size=5 mode=644",
        "etc/rel": "link -> passwd mode=777",
        "gone-target": "file new size=3 mode=644",
        "keeps-old": "file old content size=11 mode=644",
        "opt": "dir mode=700",
        "opt/b": "file b2 size=2 mode=755",
        "var": "link -> /tmp mode=777",
    ]

    @Test func exportDirAppliesWhiteoutsOpaqueDirectoriesAndHardlinks() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        try Self.multiLayerImage(store)
        let (refused, _) = try store.exportRootfs("multi:1", toDirectory: root + "/out")
        #expect(refused.isEmpty)
        #expect(try S.snapshot(root + "/out") == Self.expected)
    }

    @Test func exportTarEqualsExportDirAndHasNoWhiteouts() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        try Self.multiLayerImage(store)
        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = try store.exportRootfs("multi:1", toTar: fd)
        close(fd)
        let reader = try TarReader(path: root + "/out.tar")
        var names: [String] = []
        var seen = Set<String>()
        while let entry = try reader.next() {
            let path = entry.path.description
            names.append(path)
            let parent = (path.hasSuffix("/") ? String(path.dropLast()) : path)
                .split(separator: "/").dropLast().joined(separator: "/")
            #expect(parent.isEmpty || seen.contains(parent), "parent of \(path) comes first")
            if entry.kind == .hardlink { #expect(seen.contains(entry.linkTarget?.description ?? "")) }
            seen.insert(path.hasSuffix("/") ? String(path.dropLast()) : path)
        }
        #expect(!names.contains { $0.contains(".wh.") })
        try FileManager.default.createDirectory(atPath: root + "/x", withIntermediateDirectories: true)
        #expect(try S.run(["tar", "-C", root + "/x", "-xf", root + "/out.tar"]) == 0)
        #expect(try S.snapshot(root + "/x") == Self.expected)
    }

    /// Layers whose order inside a layer matters once they are applied one at a time: a same-layer
    /// whiteout, an opaque marker after its siblings, a directory replaced by a file and back, links to
    /// lower layers, modes the umask would take away.
    static func orderSensitiveImage(_ store: Store) throws {
        let l0 = try S.tar { w in
            try w.writeDirectory(path: "d/")
            try w.writeFile(path: "d/x", data: Data("x0".utf8))
            try w.writeDirectory(path: "o/")
            try w.writeFile(path: "o/old", data: Data("old".utf8))
            try w.writeFile(path: "lower", data: Data("lower".utf8), mode: 0o777)
            try w.writeFile(path: "suid", data: Data("s".utf8), mode: 0o4755)
            try w.writeDirectory(path: "var/")
            try w.writeFile(path: "var/cache", data: Data("c".utf8))
        }
        let l1 = try S.tar { w in
            try w.writeFile(path: "same", data: Data("kept".utf8))
            try w.writeFile(path: ".wh.same", data: Data())                 // same layer: no effect
            try w.writeFile(path: "o/new", data: Data("new".utf8))
            try w.writeFile(path: "o/.wh..wh..opq", data: Data())           // after a sibling of its layer
            try w.writeFile(path: "d", data: Data("file now".utf8))         // directory → file
            try w.writeHardlink(path: "up-link", target: "lower")           // a link to a lower layer
            try w.writeFile(path: ".wh.var", data: Data())
            try w.writeFile(path: "var/fresh", data: Data("f".utf8))        // re-created under a whiteout
        }
        let l2 = try S.tar { w in
            try w.writeDirectory(path: "d/", mode: 0o750)                   // file → directory again
            try w.writeFile(path: "d/y", data: Data("y2".utf8))
        }
        try S.image(store, layers: [l0, l1, l2], name: "order:1")
    }

    static let orderExpected: [String: String] = [
        "d": "dir mode=750",
        "d/y": "file y2 size=2 mode=644",
        "lower": "file lower size=5 inode=lower mode=777",
        "o": "dir mode=755",
        "o/new": "file new size=3 mode=644",
        "same": "file kept size=4 mode=644",
        "suid": "file s size=1 mode=4755",
        "up-link": "file lower size=5 inode=lower mode=777",
        "var": "dir mode=755",
        "var/fresh": "file f size=1 mode=644",
    ]

    @Test func layersAppliedInOrderGiveTheSameTreeInADirectoryAndInATar() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        try Self.orderSensitiveImage(store)
        let (refused, _) = try store.exportRootfs("order:1", toDirectory: root + "/out")
        #expect(refused.isEmpty)
        #expect(try S.snapshot(root + "/out") == Self.orderExpected)

        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = try store.exportRootfs("order:1", toTar: fd)
        close(fd)
        try FileManager.default.createDirectory(atPath: root + "/x", withIntermediateDirectories: true)
        #expect(try S.run(["tar", "-C", root + "/x", "-xpf", root + "/out.tar"]) == 0)
        #expect(try S.snapshot(root + "/x") == Self.orderExpected)
    }

    @Test func hostileLayersWriteNothingOutsideAndReportEachMember() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let outside = root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let evil = try S.tar { w in
            try w.writeFile(path: "../x", data: Data("escape".utf8))
            try w.writeFile(path: "a/../../y", data: Data("escape".utf8))
            try w.writeSymlink(path: "link", target: "../outside")
            try w.writeFile(path: "link/through", data: Data("escape".utf8))
            try w.writeSymlink(path: "abslink", target: RawPath(outside))
            try w.writeFile(path: "abslink/through", data: Data("escape".utf8))
            try w.writeHardlink(path: "hl", target: "../outside/secret")
            try w.writeHardlink(path: "hl2", target: "/etc/passwd")
            try w.writeFile(path: "ok", data: Data("fine".utf8))
        }
        try S.image(store, layers: [evil], name: "evil:1")
        let out = root + "/out/rootfs"
        let (refused, _) = try store.exportRootfs("evil:1", toDirectory: out)
        #expect(refused.map(\.member) == ["../x", "a/../../y", "link/through", "abslink/through", "hl", "hl2"])
        #expect(refused.allSatisfy { $0.description.hasPrefix("layer sha256:") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root + "/out/x"))
        #expect(!FileManager.default.fileExists(atPath: root + "/y"))
        #expect(try S.snapshot(out).keys.sorted() == ["abslink", "link", "ok"])
    }

    @Test func aufsHardLinkDataBecomesTheLinksAndItsDirectoryIsNeverOutput() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let layer = try S.tar { w in
            try w.writeDirectory(path: ".wh..wh.plnk/", mode: 0o700)
            try w.writeFile(path: ".wh..wh.plnk/1234.5", data: Data("shared".utf8), mode: 0o755)
            try w.writeDirectory(path: "bin/")
            try w.writeHardlink(path: "bin/x", target: ".wh..wh.plnk/1234.5")
            try w.writeHardlink(path: "bin/y", target: ".wh..wh.plnk/1234.5")
            try w.writeDirectory(path: ".wh..wh.orph/")                   // other AUFS metadata: skipped
        }
        try S.image(store, layers: [layer], name: "aufs:1")
        let expected = [
            "bin": "dir mode=755",
            "bin/x": "file shared size=6 inode=bin/x mode=755",
            "bin/y": "file shared size=6 inode=bin/x mode=755",
        ]
        let (refused, _) = try store.exportRootfs("aufs:1", toDirectory: root + "/out")
        #expect(refused.isEmpty)
        #expect(try S.snapshot(root + "/out") == expected)
        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = try store.exportRootfs("aufs:1", toTar: fd)
        close(fd)
        try FileManager.default.createDirectory(atPath: root + "/x", withIntermediateDirectories: true)
        #expect(try S.run(["tar", "-C", root + "/x", "-xf", root + "/out.tar"]) == 0)
        #expect(try S.snapshot(root + "/x") == expected)
    }

    @Test func modesAreExactUnderADefaultACL() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        try S.image(store, layers: [try S.tar { w in
            try w.writeDirectory(path: "d/", mode: 0o755)
            try w.writeFile(path: "d/f", data: Data("f".utf8), mode: 0o644)
        }], name: "acl:1")
        // A default ACL u::rwx,g::---,o::--- (version 2; tag, permissions, id per entry): new files get
        // 0600 from it, whatever the umask, unless their mode is set afterwards.
        var acl = Data([2, 0, 0, 0])
        for (tag, perm) in [(UInt16(0x01), UInt16(7)), (0x04, 0), (0x20, 0)] {
            withUnsafeBytes(of: tag.littleEndian) { acl.append(contentsOf: $0) }
            withUnsafeBytes(of: perm.littleEndian) { acl.append(contentsOf: $0) }
            acl.append(contentsOf: [0xff, 0xff, 0xff, 0xff])
        }
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
        try ExtendedAttributes.set("system.posix_acl_default", value: acl, path: root + "/out")
        _ = try store.exportRootfs("acl:1", toDirectory: root + "/out")
        #expect(try S.snapshot(root + "/out") == ["d": "dir mode=755", "d/f": "file f size=1 mode=644"])
    }

    @Test func namesAreSplitAndMatchedOnTheirBytes() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        // "/" followed by U+0338 is one Character in Swift: a character-wise split would keep "..\u{338}"
        // whole, or miss ".wh." before a combining mark. The file system sees bytes.
        try S.image(store, layers: [
            try S.tar { w in
                try w.writeFile(path: "\u{338}x", data: Data("x".utf8))
                try w.writeFile(path: "keep", data: Data("k".utf8))
            },
            try S.tar { w in
                try w.writeFile(path: ".wh.\u{338}x", data: Data())
                try w.writeFile(path: "../\u{338}out", data: Data("escape".utf8))
            },
        ], name: "bytes:1")
        let (refused, _) = try store.exportRootfs("bytes:1", toDirectory: root + "/out")
        #expect(refused.map(\.member) == ["../\u{338}out"])
        #expect(try S.snapshot(root + "/out") == ["keep": "file k size=1 mode=644"])
        #expect(!FileManager.default.fileExists(atPath: root + "/\u{338}out"))
    }

    @Test func aCorruptLayerLeavesTheTargetAsItWasFound() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let good = try S.tar { w in
            try w.writeDirectory(path: "etc/", mode: 0o555)
            try w.writeFile(path: "etc/ok", data: Data("ok".utf8))
        }
        let whole = try S.tar { w in try w.writeFile(path: "big", data: Data(repeating: 7, count: 4000)) }
        try S.image(store, layers: [good, whole.prefix(1500)], name: "cut:1")
        #expect(throws: BaleError.self) { _ = try store.exportRootfs("cut:1", toDirectory: root + "/absent") }
        #expect(!FileManager.default.fileExists(atPath: root + "/absent"), "\((try? S.snapshot(root + "/absent")) ?? [:])")
        try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: false)
        #expect(throws: BaleError.self) { _ = try store.exportRootfs("cut:1", toDirectory: root + "/empty") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/empty").isEmpty)
    }

    @Test func aGzipLayerWithABadCRCFailsBothExportsAtItsEnd() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let layer = try S.tar { w in try w.writeFile(path: "f", data: Data(repeating: 1, count: 100_000)) }
        try layer.write(to: URL(fileURLWithPath: root + "/l.tar"))
        #expect(try S.shell("gzip -n < \(root)/l.tar > \(root)/l.tgz").status == 0)
        var gzip = try Data(contentsOf: URL(fileURLWithPath: root + "/l.tgz"))
        gzip[gzip.count - 8] ^= 0xff        // the CRC-32 in the trailer: the data itself is intact
        try S.image(store, layers: [gzip], name: "crc:1")
        let error = #expect(throws: BaleError.self) { _ = try store.exportRootfs("crc:1", toDirectory: root + "/out") }
        #expect(error?.message.contains("CRC") == true, "\(error?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: root + "/out"))
        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        #expect(throws: BaleError.self) { _ = try store.exportRootfs("crc:1", toTar: fd) }
    }

    @Test func extractionKeepsSparseHolesAndRefusesANonEmptyTarget() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // GNU tar writes a sparse member of 64 MiB with 1 byte of data.
        #expect(try S.shell("cd \(root) && truncate -s 64M sparse && printf x >> sparse && tar --sparse -cf s.tar sparse").status == 0)
        let store = try Store(root: root + "/store")
        try S.image(store, layers: [try Data(contentsOf: URL(fileURLWithPath: root + "/s.tar"))], name: "sparse:1")
        _ = try store.exportRootfs("sparse:1", toDirectory: root + "/out")
        var st = stat()
        #expect(stat(root + "/out/sparse", &st) == 0)
        #expect(st.st_size == 64 << 20 + 1)
        #expect(st.st_blocks * 512 < 1 << 20, "holes were not filled")
        #expect(throws: BaleError.self) { _ = try store.exportRootfs("sparse:1", toDirectory: root + "/out") }
    }

    /// A layer with ".wh.x/child": ".wh.x" hides x, and nothing named ".wh.x" reaches either export;
    /// the member under it is dropped with a warning (export does not fail).
    @Test func entriesUnderAWhiteoutNameAreNotExported() throws {
        let root = S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try Store(root: root + "/store")
        let lower = try S.tar { w in
            try w.writeDirectory(path: "x/")
            try w.writeFile(path: "x/a", data: Data("a".utf8))
            try w.writeFile(path: "keep", data: Data("k".utf8))
        }
        let upper = try S.tar { w in
            try w.writeDirectory(path: ".wh.x/")
            try w.writeFile(path: ".wh.x/child", data: Data("c".utf8))
            try w.writeFile(path: ".wh.y/z", data: Data("z".utf8))
        }
        try S.image(store, layers: [lower, upper], name: "wh:1")
        let fd = open(root + "/out.tar", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let tar = try store.exportRootfs("wh:1", toTar: fd)
        close(fd)
        let reader = try TarReader(path: root + "/out.tar")
        var names: [String] = []
        while let entry = try reader.next() { names.append(entry.path.description) }
        #expect(names == ["keep"])
        #expect(tar.refused.isEmpty)
        #expect(tar.warnings.count == 2 && tar.warnings.allSatisfy { $0.contains("dropped: it is inside the whiteout") },
                "\(tar.warnings)")

        let dir = try store.exportRootfs("wh:1", toDirectory: root + "/out")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/out") == ["keep"])
        #expect(dir.refused.isEmpty)
        #expect(dir.warnings.count == 2, "\(dir.warnings)")
    }
}
