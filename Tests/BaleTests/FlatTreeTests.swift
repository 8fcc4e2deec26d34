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
}
