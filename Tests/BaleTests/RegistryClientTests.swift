@testable import Bale
import BaleCore
import Foundation
import Testing

/// The registry client's parsers and URL building, without a registry.
@Suite struct RegistryClientTests {
    @Test func parsesBearerChallengeWithQuotedCommas() {
        let header = #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
        let challenges = AuthChallenge.parse(header)
        #expect(challenges == [AuthChallenge(scheme: "bearer", parameters: [
            "realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push",
        ])])
    }

    @Test func parsesSeveralChallengesAndTokenValues() {
        let challenges = AuthChallenge.parse(#"Basic realm="x\"y", Bearer realm=https://t/token ,service=s"#)
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges.first?.parameters["realm"] == "x\"y")
        #expect(challenges.last?.parameters == ["realm": "https://t/token", "service": "s"])
    }

    @Test func skipsEmptyAndMalformedChallenges() {
        #expect(AuthChallenge.parse("").isEmpty)
        #expect(AuthChallenge.parse("Basic") == [AuthChallenge(scheme: "basic", parameters: [:])])
    }

    @Test func findsTheNextLink() {
        #expect(RegistryClient.nextLink(#"</v2/_catalog?last=b&n=2>; rel="next""#) == "/v2/_catalog?last=b&n=2")
        #expect(RegistryClient.nextLink(#"<https://x/prev>; rel="prev", <https://x/next?n=1>; rel=next"#) == "https://x/next?n=1")
        #expect(RegistryClient.nextLink(#"</v2/x>; rel="prev""#) == nil)
        #expect(RegistryClient.nextLink(nil) == nil)
    }

    @Test func appendsQueryParametersAfterAnExistingQuery() throws {
        let withState = try #require(URL(string: "http://r:5000/v2/a/blobs/uploads/u?_state=ab+c%3D"))
        let digest = "sha256:" + String(repeating: "0", count: 64)
        let put = try RegistryClient.appending(withState, "digest", digest)
        #expect(put.absoluteString == "http://r:5000/v2/a/blobs/uploads/u?_state=ab%2Bc%3D&digest=sha256:\(String(repeating: "0", count: 64))")
        let plain = try RegistryClient.appending(#require(URL(string: "https://r/v2/a/blobs/uploads/u")), "digest", digest)
        #expect(plain.absoluteString.hasSuffix("/u?digest=\(digest)"))
    }

    @Test func resolvesRelativeAndAbsoluteLocations() throws {
        let request = try #require(URL(string: "http://127.0.0.1:5000/v2/a/blobs/uploads/"))
        #expect(try RegistryClient.resolve("/v2/a/blobs/uploads/123?_state=x", against: request).absoluteString
            == "http://127.0.0.1:5000/v2/a/blobs/uploads/123?_state=x")
        #expect(try RegistryClient.resolve("https://storage.example/u/1", against: request).absoluteString
            == "https://storage.example/u/1")
    }

    @Test func plainHTTPOnlyForLoopbackNames() {
        for host in ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:443", "[::1]:5000", "::1"] {
            #expect(RegistryClient.isLoopback(host), "\(host)")
        }
        for host in ["registry.local:5000", "10.0.0.1", "127.0.0.1.example.com", "128.0.0.1:5000", "docker.io", "localhost.example"] {
            #expect(!RegistryClient.isLoopback(host), "\(host)")
        }
    }

    @Test func summarisesRegistryErrorBodies() {
        let body = Data(#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:abc"}]}"#.utf8)
        #expect(RegistryClient.errorSummary(body) == "MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:abc)")
        let structured = Data(#"{"errors":[{"code":"DENIED","message":"no","detail":{"a":1}}]}"#.utf8)
        #expect(RegistryClient.errorSummary(structured) == "DENIED: no")
        #expect(RegistryClient.errorSummary(Data("<html>\nbad gateway".utf8)) == "<html>")
    }

    @Test func parsesDockerLocations() throws {
        let tagged = try RegistryFormat.parse("//127.0.0.1:5000/a/b:1")
        #expect(tagged.host == "127.0.0.1:5000")
        #expect(tagged.image?.path == "a/b")
        #expect(tagged.image?.tag == "1")
        let hub = try RegistryFormat.parse("//alpine")
        #expect(hub.host == "docker.io")
        #expect(hub.image?.path == "library/alpine")
        for hostOnly in ["//127.0.0.1:5000", "//127.0.0.1:5000/", "//localhost", "//registry.example/"] {
            let parsed = try RegistryFormat.parse(hostOnly)
            #expect(parsed.image == nil, "\(hostOnly)")
        }
        #expect(throws: BaleError.self) { try RegistryFormat.parse("127.0.0.1:5000/a") }
        let location = try Location(parsing: "docker://127.0.0.1:5000/a:1")
        #expect(ObjectIdentifier(location.format) == ObjectIdentifier(RegistryFormat.self))
        #expect(location.reference == "//127.0.0.1:5000/a:1")
    }
}
