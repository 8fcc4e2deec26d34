@testable import Bale
import BaleCore
import BaleIO
import Testing

/// `FlatTree.apply` member by member: what each member changes, and that the remembered parent of the
/// previous member is never used once the tree lost it.
@Suite struct FlatTreeTests {
    static let digest = Digest(sha256Bytes: [UInt8](repeating: 0xaa, count: 32))

    /// Applies `members` as one layer (0) each given as (path, kind); returns the tree.
    static func tree(_ layers: [[(String, TarEntry.Kind)]]) -> FlatTree {
        let tree = FlatTree()
        for (layer, members) in layers.enumerated() {
            for (ordinal, (path, kind)) in members.enumerated() {
                _ = tree.apply(TarEntry(path: RawPath(path), kind: kind), layer: layer, ordinal: ordinal, digest: digest)
            }
        }
        return tree
    }

    static func paths(_ tree: FlatTree) -> [String] {
        var out: [String] = []
        func walk(_ node: FlatNode, _ prefix: String) {
            for (name, child) in node.sortedChildren {
                let path = prefix.isEmpty ? name.description : prefix + "/" + name.description
                out.append(child.isDirectory ? path + "/" : path)
                walk(child, path)
            }
        }
        walk(tree.root, "")
        return out
    }

    @Test func aParentReplacedByAFileRefusesLaterMembersUnderIt() {
        let tree = Self.tree([[("a/x", .file), ("a", .file), ("a/y", .file)]])
        #expect(Self.paths(tree) == ["a"])
        #expect(tree.refused.map(\.member) == ["a/y"])
        #expect(tree.refused.first?.reason.contains("not a directory") == true)
    }

    @Test func aParentWhitedOutRightAfterItsMembersIsImpliedAgain() {
        let tree = Self.tree([[("b/x", .file)], [(".wh.b", .file), ("b/y", .file), ("b/z", .file)]])
        #expect(Self.paths(tree) == ["b/", "b/y", "b/z"])
        #expect(tree.refused.isEmpty)
        // A whiteout hides lower layers only, never members of its own layer (OCI image spec).
        let same = Self.tree([[("b/x", .file), (".wh.b", .file), ("b/y", .file)]])
        #expect(Self.paths(same) == ["b/", "b/x", "b/y"])
    }

    @Test func anOpaqueDirectoryHidesLowerMembersButKeepsLaterOnes() {
        let tree = Self.tree([
            [("c/", .directory), ("c/old", .file), ("c/d/deep", .file)],
            [("c/new", .file), ("c/.wh..wh..opq", .file), ("c/d/again", .file), ("c/more", .file)],
        ])
        #expect(Self.paths(tree) == ["c/", "c/d/", "c/d/again", "c/more", "c/new"])
    }

    @Test func applyReportsWhatChangedForEachMember() {
        let tree = FlatTree()
        let first = tree.apply(TarEntry(path: "p/q/r", kind: .file), layer: 0, ordinal: 0, digest: Self.digest)
        #expect(first.implied == ["p", "p/q"])
        #expect(first.added?.entry?.path == "p/q/r")
        let second = tree.apply(TarEntry(path: "p/q/s", kind: .file), layer: 0, ordinal: 1, digest: Self.digest)
        #expect(second.implied.isEmpty && second.removed.isEmpty)
        let third = tree.apply(TarEntry(path: "p/q", kind: .symlink, linkTarget: "/"), layer: 1, ordinal: 0,
                               digest: Self.digest)
        #expect(third.removed == ["p/q"])
        let fourth = tree.apply(TarEntry(path: "p/q/t", kind: .file), layer: 1, ordinal: 1, digest: Self.digest)
        #expect(fourth.added == nil)
        #expect(tree.refused.last?.reason.contains("symlink") == true)
    }

    /// Latin-1 bytes: "é" as the single byte 0xE9, "ÿ" as 0xFF.
    static func latin1(_ text: String) -> RawPath {
        RawPath(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
    }

    /// Names that are not UTF-8 go through the tree as bytes: a directory, a file in it, a hard link to
    /// it, and a whiteout in an upper layer that removes the file by its bytes.
    @Test func namesThatAreNotUTF8AreKeysAndWhiteoutsOnTheirBytes() {
        let tree = FlatTree()
        let members: [(Int, TarEntry)] = [
            (0, TarEntry(path: Self.latin1("d\u{ff}/"), kind: .directory)),
            (0, TarEntry(path: Self.latin1("d\u{ff}/caf\u{e9}"), kind: .file)),
            (0, TarEntry(path: Self.latin1("d\u{ff}/caf\u{e8}"), kind: .file)),
            (0, TarEntry(path: Self.latin1("hard\u{e9}"), kind: .hardlink, linkTarget: Self.latin1("d\u{ff}/caf\u{e9}"))),
            (1, TarEntry(path: Self.latin1("d\u{ff}/.wh.caf\u{e9}"), kind: .file)),
        ]
        for (ordinal, (layer, entry)) in members.enumerated() {
            _ = tree.apply(entry, layer: layer, ordinal: ordinal, digest: Self.digest)
        }
        #expect(tree.refused.isEmpty, "\(tree.refused)")
        #expect(Self.paths(tree) == [#"d\xff/"#, #"d\xff/caf\xe8"#, #"hard\xe9"#])
        #expect(tree.node(at: Self.latin1("hard\u{e9}"))?.linkTarget?.entry?.path == Self.latin1("d\u{ff}/caf\u{e9}"))
    }

    /// Composed and decomposed "é" are two files on disk and two keys here (Swift's String would
    /// compare them equal and merge them).
    @Test func canonicallyEquivalentNamesStayDistinct() {
        let tree = Self.tree([[("\u{e9}", .file), ("e\u{301}", .file)], [(".wh.e\u{301}", .file)]])
        #expect(tree.node(at: RawPath("\u{e9}")) != nil)
        #expect(tree.node(at: RawPath("e\u{301}")) == nil)
    }

    /// ".wh.x/child": the OCI spec gives ".wh.x" one meaning (x is deleted) and nothing inside it. The
    /// member ".wh.x" hides x; what is under it is dropped with a warning, never refused, and no ".wh."
    /// name stays in the tree. AUFS's hard-link directory keeps its contents.
    @Test func entriesUnderAWhiteoutNameAreDroppedWithAWarning() {
        let tree = Self.tree([
            [("x/", .directory), ("x/a", .file), ("y/", .directory), ("y/b", .file), (".wh..wh.plnk/1.2", .file)],
            [(".wh.x/", .directory), (".wh.x/child", .file), ("y/.wh.z/deep/file", .file)],
        ])
        #expect(Self.paths(tree) == ["y/", "y/b"])
        #expect(tree.node(at: ".wh..wh.plnk/1.2") != nil)     // kept, though never output itself
        #expect(tree.refused.isEmpty, "\(tree.refused)")
        #expect(tree.warnings.count == 2)
        #expect(tree.warnings.first?.contains(#"member ".wh.x/child": dropped: it is inside the whiteout ".wh.x""#) == true,
                "\(tree.warnings)")
        #expect(tree.warnings.last?.contains(#"inside the whiteout "y/.wh.z""#) == true, "\(tree.warnings)")
    }
}
