import Foundation
import Testing
@testable import BaleCore

@Suite("Platform")
struct PlatformTests {
    @Test("parses --platform values", arguments: [
        ("linux/amd64", "linux", "amd64", nil as String?),
        ("linux/arm64", "linux", "arm64", "v8"),           // arm64 defaults to v8
        ("linux/arm64/v8", "linux", "arm64", "v8"),
        ("linux/arm/v7", "linux", "arm", "v7"),
        ("linux/arm/v6", "linux", "arm", "v6"),
        ("Linux/X86_64", "linux", "amd64", nil),           // lowercased, then normalised
        ("linux/aarch64", "linux", "arm64", "v8"),
        ("linux/i686", "linux", "386", nil),
        ("windows/amd64", "windows", "amd64", nil),
        ("linux/s390x", "linux", "s390x", nil),
        ("linux/riscv64", "linux", "riscv64", nil),
    ])
    func parses(_ text: String, _ os: String, _ arch: String, _ variant: String?) throws {
        let p = try Platform(parsing: text)
        #expect(p.os == os)
        #expect(p.architecture == arch)
        #expect(p.variant == variant)
    }

    @Test("refuses malformed platforms", arguments: ["", "linux", "linux/", "/amd64", "linux//v7", "a/b/c/d"])
    func refuses(_ text: String) throws {
        let error = try #require(throws: BaleError.self) { try Platform(parsing: text) }
        #expect(error.code == .usage)
        #expect(error.message.contains("\"\(text)\""))
    }

    @Test("description is os/arch[/variant]")
    func description() {
        #expect(Platform(os: "linux", architecture: "amd64").description == "linux/amd64")
        #expect(Platform(os: "linux", architecture: "arm", variant: "v7").description == "linux/arm/v7")
    }

    @Test("matches", arguments: [
        // (image, wanted, matches)
        ("linux/amd64", "linux/amd64", true),
        ("linux/amd64", "linux/arm64", false),
        ("windows/amd64", "linux/amd64", false),
        ("linux/arm64/v8", "linux/arm64", true),
        ("linux/arm/v7", "linux/arm/v7", true),
        ("linux/arm/v7", "linux/arm/v6", false),
        ("linux/arm/v7", "linux/arm", true),       // no variant wanted: any
        ("linux/amd64/v3", "linux/amd64", true),
    ])
    func matches(_ image: String, _ wanted: String, _ expected: Bool) throws {
        #expect(try Platform(parsing: image).matches(Platform(parsing: wanted)) == expected)
    }

    @Test("arm64's v8 matches an arm64 without variant both ways")
    func arm64DefaultVariant() {
        let bare = Platform(os: "linux", architecture: "arm64")
        let v8 = Platform(os: "linux", architecture: "arm64", variant: "v8")
        #expect(bare.matches(v8))
        #expect(v8.matches(bare))
        // v8 is special only for arm64.
        let armV8 = Platform(os: "linux", architecture: "arm", variant: "v8")
        let armV7 = Platform(os: "linux", architecture: "arm", variant: "v7")
        #expect(!armV8.matches(armV7))
    }

    @Test("host uses Go's names")
    func host() {
        #expect(Platform.host.os == "linux")
        #if arch(x86_64)
        #expect(Platform.host.architecture == "amd64")
        #expect(Platform.host.variant == nil)
        #expect(Platform.host.description == "linux/amd64")
        #elseif arch(arm64)
        #expect(Platform.host.architecture == "arm64")
        #expect(Platform.host.variant == "v8")
        #endif
        #expect(Platform.host.matches(Platform.host))
    }

    @Test("normalisedArchitecture", arguments: [
        ("x86_64", "amd64"), ("x86-64", "amd64"), ("amd64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"),
        ("i386", "386"), ("i686", "386"), ("armv7l", "arm"), ("armhf", "arm"), ("ppc64le", "ppc64le"),
    ])
    func normalised(_ input: String, _ expected: String) {
        #expect(Platform.normalisedArchitecture(input) == expected)
    }

    @Test("Codable with os.version and os.features")
    func codable() throws {
        let json = #"{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234","os.features":["win32k"],"variant":"v2","extra":1}"#
        let p = try JSON.decode(Platform.self, from: bytes(json), what: "platform")
        #expect(p.os == "windows")
        #expect(p.osVersion == "10.0.17763.1234")
        #expect(p.osFeatures == ["win32k"])
        #expect(p.variant == "v2")
        let out = String(decoding: try JSON.canonical(p), as: UTF8.self)
        #expect(out == #"{"architecture":"amd64","os":"windows","os.features":["win32k"],"os.version":"10.0.17763.1234","variant":"v2"}"#)
    }
}
