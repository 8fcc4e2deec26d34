import BaleCore
import BaleIO
import Testing

@Suite struct SafePathTests {
    @Test(arguments: [
        ("a", "a"), ("./a", "a"), ("././a", "a"), ("a/", "a"), ("a//b", "a/b"), ("a/./b", "a/b"),
        ("a/b/../c", "a/c"), ("a/..", ""), (".", ""), ("./", ""), ("a/b/c/../../d", "a/d"),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6"),
        ("héllo/日本", "héllo/日本"), ("...", "..."), ("..a/b..", "..a/b.."), (".wh..wh..opq", ".wh..wh..opq"),
        ("usr/share/", "usr/share"), ("a/.../b/", "a/.../b"), ("a/b/.", "a/b"), ("a/b//", "a/b"),
        ("a/.", "a"), (".a/", ".a"), ("a/../", ""), ("x/..../", "x/...."),
    ])
    func cleansGoodNames(name: String, expected: String) throws {
        #expect(try SafePath.clean(name) == expected)
    }

    @Test(arguments: [
        ("/etc/passwd", "absolute path"),
        ("..", "escapes the archive root"),
        ("../x", "escapes the archive root"),
        ("a/../../x", "escapes the archive root"),
        ("./../x", "escapes the archive root"),
        ("a/../..", "escapes the archive root"),
        ("../", "escapes the archive root"),
        ("a\u{0}/", "NUL"),
        ("../\u{338}x", "escapes the archive root"),       // "/" + U+0338 is one Character, two components
        ("a/../../\u{338}x", "escapes the archive root"),
        ("", "empty name"),
        ("a\u{0}b", "NUL"),
    ])
    func refusesBadNames(name: String, reason: String) {
        let error = #expect(throws: BaleError.self) { try SafePath.clean(name) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("member \"") == true)
    }

    @Test func allowAbsoluteStripsTheRoot() throws {
        #expect(try SafePath.clean("/etc/passwd", allowAbsolute: true) == "etc/passwd")
        #expect(try SafePath.clean("/", allowAbsolute: true) == "")
        #expect(throws: BaleError.self) { try SafePath.clean("/../etc", allowAbsolute: true) }
    }

    @Test func messagesEscapeControlCharacters() {
        let error = #expect(throws: BaleError.self) { try SafePath.clean("../a\nb") }
        #expect(error?.message.contains("\\x0a") == true)
        #expect(error?.message.contains("\n") == false)
    }

    @Test(arguments: [
        ("../b/layer.tar", "a/layer.tar", "b/layer.tar"),
        ("x.tar", "a/layer.tar", "a/x.tar"),
        ("./x.tar", "a/layer.tar", "a/x.tar"),
        ("sub/../y", "a/b/link", "a/b/y"),
        ("../../top", "a/b/link", "top"),
        ("target", "link", "target"),
        ("b", "./a/link", "a/b"),
    ])
    func resolvesLinkTargets(target: String, member: String, expected: String) throws {
        #expect(try SafePath.resolveInArchive(linkTarget: target, from: member) == expected)
    }

    @Test(arguments: [
        ("../x", "link", "escapes the archive root"),
        ("../../x", "a/link", "escapes the archive root"),
        ("/etc/passwd", "a/link", "absolute link target"),
        ("", "a/link", "empty link target"),
        ("a\u{0}", "a/link", "NUL"),
        ("x", "../link", "escapes the archive root"),
    ])
    func refusesEscapingLinks(target: String, member: String, reason: String) {
        let error = #expect(throws: BaleError.self) {
            try SafePath.resolveInArchive(linkTarget: target, from: member)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test func absoluteLinkTargetsResolveFromTheRootWhenAllowed() throws {
        #expect(try SafePath.resolveInArchive(linkTarget: "/usr/bin/env", from: "bin/env", allowAbsolute: true)
            == "usr/bin/env")
        #expect(throws: BaleError.self) {
            try SafePath.resolveInArchive(linkTarget: "/../x", from: "a", allowAbsolute: true)
        }
    }

    /// Names that are not UTF-8 are cleaned on their bytes and kept as they are; an escape is refused
    /// and named with the bytes shown escaped.
    @Test func bytesThatAreNotUTF8AreCleanedAndKept() throws {
        let latin1 = RawPath(Array("./d".utf8) + [0xff] + Array("//../caf".utf8) + [0xe9, 0x2f])
        #expect(try SafePath.clean(latin1) == RawPath(Array("caf".utf8) + [0xe9]))
        let clean = RawPath(Array("d".utf8) + [0xff, 0x2f, 0xe9])
        #expect(try SafePath.clean(clean) == clean)
        #expect(try SafePath.resolveInArchive(linkTarget: RawPath(Array("../x".utf8) + [0xe9]), from: clean)
            == RawPath(Array("x".utf8) + [0xe9]))
        let error = #expect(throws: BaleError.self) { try SafePath.clean(RawPath([0xe9, 0x2f, 0x2e, 0x2e, 0x2f, 0x2e, 0x2e])) }
        #expect(error?.message.contains(#"member "\xe9/../..": path escapes"#) == true, "\(error?.message ?? "")")
    }
}
