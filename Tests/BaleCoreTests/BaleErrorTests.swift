import Foundation
import Testing
@testable import BaleCore

private struct PlainError: Error, CustomStringConvertible {
    var description: String { "plain failure" }
}

@Suite("BaleError")
struct BaleErrorTests {
    @Test("description chains causes, one per line")
    func chain() {
        let inner = BaleError(.integrity, "blob sha256:ab: size 3, expected 4", cause: PlainError())
        let outer = BaleError(.invalidInput, "image.tar: cannot load", cause: inner)
        #expect(outer.description == """
            image.tar: cannot load
              caused by: blob sha256:ab: size 3, expected 4
              caused by: plain failure
            """)
        #expect(outer.errorDescription == outer.description)
        #expect(outer.localizedDescription == outer.description)
        #expect(outer.code == .invalidInput)
        #expect((outer.cause as? BaleError)?.code == .integrity)
    }

    @Test("a cause the message already quotes is not repeated")
    func quotedCause() {
        let inner = BaleError(.invalidInput, "x.tar: member \"a\": truncated", cause: PlainError())
        let outer = BaleError(.invalidInput, "x.tar is not a tar archive: \(inner.message)", cause: inner)
        #expect(outer.description == """
            x.tar is not a tar archive: x.tar: member "a": truncated
              caused by: plain failure
            """)
    }

    @Test("no cause, one line")
    func single() {
        let e = BaleError(.notFound, "image busybox not found")
        #expect(e.description == "image busybox not found")
        #expect(e.cause == nil)
    }

    @Test("codes are distinct and named")
    func codes() {
        let all: [BaleError.Code] = [.usage, .notFound, .invalidReference, .invalidInput, .integrity, .conflict,
                                     .io, .unsupported, .interrupted, .internal]
        #expect(Set(all).count == all.count)
        #expect(BaleError.Code.notFound.description == "notFound")
        #expect(BaleError.Code.internal.description == "internal")
    }

    @Test("posix names the path and the system message")
    func posix() {
        let e = BaleError.posix("open", path: "/nonexistent/x", errno: ENOENT)
        #expect(e.code == .io)
        #expect(e.message == "/nonexistent/x: open: No such file or directory")
    }
}
