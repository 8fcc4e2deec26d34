import Testing
@testable import BaleCore

// Cases retyped from distribution/reference's published tables (reference_test.go TestReferenceParse,
// normalize_test.go TestValidateReferenceName, TestValidateRemoteName, TestParseRepositoryInfo,
// TestNormalizedSplitHostname, TestParseAnyReference, TestParseDockerRef; regexp_test.go), with the
// results ParseNormalizedNamed gives for them. Cases marked "derived" follow from reading normalize.go.

private let hexF = String(repeating: "f", count: 64)
private let digestF = "sha256:" + hexF
private let redisHex = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
private let busyboxHex = "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
private let registryHex = "be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"

struct ValidReferenceCase: CustomTestStringConvertible, Sendable {
    var input: String
    var string: String
    var domain: String
    var path: String
    var tag: String? = nil
    var digest: String? = nil
    var familiar: String
    var testDescription: String { input.count > 60 ? String(input.prefix(60)) + "…" : input }
}

private func valid(_ input: String, _ string: String, domain: String, path: String, tag: String? = nil,
                   digest: String? = nil, familiar: String) -> ValidReferenceCase {
    ValidReferenceCase(input: input, string: string, domain: domain, path: path, tag: tag, digest: digest,
                       familiar: familiar)
}

private let validCases: [ValidReferenceCase] = [
    // reference_test.go TestReferenceParse, normalised.
    valid("test_com", "docker.io/library/test_com", domain: "docker.io", path: "library/test_com", familiar: "test_com"),
    valid("test.com:tag", "docker.io/library/test.com:tag", domain: "docker.io", path: "library/test.com", tag: "tag",
          familiar: "test.com:tag"),
    valid("test.com:5000", "docker.io/library/test.com:5000", domain: "docker.io", path: "library/test.com",
          tag: "5000", familiar: "test.com:5000"),
    valid("test.com/repo:tag", "test.com/repo:tag", domain: "test.com", path: "repo", tag: "tag",
          familiar: "test.com/repo:tag"),
    valid("test:5000/repo", "test:5000/repo", domain: "test:5000", path: "repo", familiar: "test:5000/repo"),
    valid("test:5000/repo:tag", "test:5000/repo:tag", domain: "test:5000", path: "repo", tag: "tag",
          familiar: "test:5000/repo:tag"),
    valid("test:5000/repo@" + digestF, "test:5000/repo@" + digestF, domain: "test:5000", path: "repo",
          digest: digestF, familiar: "test:5000/repo@" + digestF),
    valid("test:5000/repo:tag@" + digestF, "test:5000/repo:tag@" + digestF, domain: "test:5000", path: "repo",
          tag: "tag", digest: digestF, familiar: "test:5000/repo:tag@" + digestF),
    valid("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", domain: "docker.io",
          path: "library/lowercase", tag: "Uppercase", familiar: "lowercase:Uppercase"),
    valid(String(repeating: "a/", count: 127) + "a:tag-puts-this-over-max",
          "docker.io/" + String(repeating: "a/", count: 127) + "a:tag-puts-this-over-max", domain: "docker.io",
          path: String(repeating: "a/", count: 127) + "a", tag: "tag-puts-this-over-max",
          familiar: String(repeating: "a/", count: 127) + "a:tag-puts-this-over-max"),
    valid("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", domain: "sub-dom1.foo.com",
          path: "bar/baz/quux", familiar: "sub-dom1.foo.com/bar/baz/quux"),
    valid("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
          domain: "sub-dom1.foo.com", path: "bar/baz/quux", tag: "some-long-tag",
          familiar: "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    valid("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com",
          domain: "b.gcr.io", path: "test.example.com/my-app", tag: "test.example.com",
          familiar: "b.gcr.io/test.example.com/my-app:test.example.com"),
    valid("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", domain: "xn--n3h.com",
          path: "myimage", tag: "xn--n3h.com", familiar: "xn--n3h.com/myimage:xn--n3h.com"),
    valid("xn--7o8h.com/myimage:xn--7o8h.com@" + digestF, "xn--7o8h.com/myimage:xn--7o8h.com@" + digestF,
          domain: "xn--7o8h.com", path: "myimage", tag: "xn--7o8h.com", digest: digestF,
          familiar: "xn--7o8h.com/myimage:xn--7o8h.com@" + digestF),
    valid("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", domain: "docker.io", path: "library/foo_bar.com",
          tag: "8080", familiar: "foo_bar.com:8080"),
    valid("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", domain: "docker.io", path: "foo/foo_bar.com",
          tag: "8080", familiar: "foo/foo_bar.com:8080"),
    valid("192.168.1.1", "docker.io/library/192.168.1.1", domain: "docker.io", path: "library/192.168.1.1",
          familiar: "192.168.1.1"),
    valid("192.168.1.1:5000", "docker.io/library/192.168.1.1:5000", domain: "docker.io",
          path: "library/192.168.1.1", tag: "5000", familiar: "192.168.1.1:5000"),
    valid("192.168.1.1/repo", "192.168.1.1/repo", domain: "192.168.1.1", path: "repo", familiar: "192.168.1.1/repo"),
    valid("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", domain: "192.168.1.1:5000", path: "repo",
          tag: "5050", familiar: "192.168.1.1:5000/repo:5050"),
    valid("[2001:db8::1]/repo", "[2001:db8::1]/repo", domain: "[2001:db8::1]", path: "repo",
          familiar: "[2001:db8::1]/repo"),
    valid("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag", domain: "[2001:db8:1:2:3:4:5:6]",
          path: "repo", tag: "tag", familiar: "[2001:db8:1:2:3:4:5:6]/repo:tag"),
    valid("[2001:db8::1]:5000/repo:tag@" + digestF, "[2001:db8::1]:5000/repo:tag@" + digestF,
          domain: "[2001:db8::1]:5000", path: "repo", tag: "tag", digest: digestF,
          familiar: "[2001:db8::1]:5000/repo:tag@" + digestF),
    valid("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo", domain: "[2001:db8::]:5000", path: "repo",
          familiar: "[2001:db8::]:5000/repo"),
    valid("[::1]:5000/repo", "[::1]:5000/repo", domain: "[::1]:5000", path: "repo", familiar: "[::1]:5000/repo"),
    valid("example.com/" + String(repeating: "a", count: 255) + ":tag",
          "example.com/" + String(repeating: "a", count: 255) + ":tag", domain: "example.com",
          path: String(repeating: "a", count: 255), tag: "tag",
          familiar: "example.com/" + String(repeating: "a", count: 255) + ":tag"),

    // normalize_test.go TestParseRepositoryInfo (familiar, full and ambiguous spellings).
    valid("localhost/fooo", "localhost/fooo", domain: "localhost", path: "fooo", familiar: "localhost/fooo"),
    valid("localhost/fooo/bar", "localhost/fooo/bar", domain: "localhost", path: "fooo/bar",
          familiar: "localhost/fooo/bar"),
    valid("LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", domain: "LOCALDOMAIN", path: "fooo", familiar: "LOCALDOMAIN/fooo"),
    valid("LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", domain: "LOCALDOMAIN", path: "fooo/bar",
          familiar: "LOCALDOMAIN/fooo/bar"),
    valid("fooo/bar", "docker.io/fooo/bar", domain: "docker.io", path: "fooo/bar", familiar: "fooo/bar"),
    valid("docker.io/fooo/bar", "docker.io/fooo/bar", domain: "docker.io", path: "fooo/bar", familiar: "fooo/bar"),
    valid("index.docker.io/fooo/bar", "docker.io/fooo/bar", domain: "docker.io", path: "fooo/bar",
          familiar: "fooo/bar"),
    valid("ubuntu", "docker.io/library/ubuntu", domain: "docker.io", path: "library/ubuntu", familiar: "ubuntu"),
    valid("library/ubuntu", "docker.io/library/ubuntu", domain: "docker.io", path: "library/ubuntu",
          familiar: "ubuntu"),
    valid("docker.io/library/ubuntu", "docker.io/library/ubuntu", domain: "docker.io", path: "library/ubuntu",
          familiar: "ubuntu"),
    valid("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", domain: "docker.io", path: "nonlibrary/ubuntu",
          familiar: "nonlibrary/ubuntu"),
    valid("other/library", "docker.io/other/library", domain: "docker.io", path: "other/library",
          familiar: "other/library"),
    valid("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", domain: "127.0.0.1:8000",
          path: "private/moonbase", familiar: "127.0.0.1:8000/private/moonbase"),
    valid("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", domain: "127.0.0.1:8000",
          path: "privatebase", familiar: "127.0.0.1:8000/privatebase"),
    valid("example.com/private/moonbase", "example.com/private/moonbase", domain: "example.com",
          path: "private/moonbase", familiar: "example.com/private/moonbase"),
    valid("example.com:8000/privatebasee", "example.com:8000/privatebasee", domain: "example.com:8000",
          path: "privatebasee", familiar: "example.com:8000/privatebasee"),
    valid("index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", domain: "docker.io",
          path: "library/ubuntu-12.04-base", familiar: "ubuntu-12.04-base"),
    valid("docker.io/foo", "docker.io/library/foo", domain: "docker.io", path: "library/foo", familiar: "foo"),
    valid("docker.io/library/foo/bar", "docker.io/library/foo/bar", domain: "docker.io", path: "library/foo/bar",
          familiar: "library/foo/bar"),
    valid("store/foo/bar", "docker.io/store/foo/bar", domain: "docker.io", path: "store/foo/bar",
          familiar: "store/foo/bar"),
    valid("Foo/bar", "Foo/bar", domain: "Foo", path: "bar", familiar: "Foo/bar"),
    valid("FOO/bar", "FOO/bar", domain: "FOO", path: "bar", familiar: "FOO/bar"),

    // normalize_test.go TestValidateReferenceName / TestValidateRemoteName / TestNormalizedSplitHostname.
    valid("docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
          "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", domain: "docker.io",
          path: "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
          familiar: "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"),
    valid("192.168.0.1:80", "docker.io/library/192.168.0.1:80", domain: "docker.io", path: "library/192.168.0.1",
          tag: "80", familiar: "192.168.0.1:80"),
    valid("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
          domain: "[fc00:1:2:3:4:5:6:7]:5000", path: "library/debian",
          familiar: "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
    valid("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
          "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", domain: "docker.io",
          path: "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
          familiar: "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    valid("docker---rules/docker", "docker.io/docker---rules/docker", domain: "docker.io",
          path: "docker---rules/docker", familiar: "docker---rules/docker"),
    valid("dock__er/docker", "docker.io/dock__er/docker", domain: "docker.io", path: "dock__er/docker",
          familiar: "dock__er/docker"),
    valid("jess/t", "docker.io/jess/t", domain: "docker.io", path: "jess/t", familiar: "jess/t"),
    valid("test_com/foo", "docker.io/test_com/foo", domain: "docker.io", path: "test_com/foo", familiar: "test_com/foo"),
    valid("test-com:8080/foo", "test-com:8080/foo", domain: "test-com:8080", path: "foo",
          familiar: "test-com:8080/foo"),
    valid("xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo", domain: "xn--n3h.com:18080", path: "foo",
          familiar: "xn--n3h.com:18080/foo"),

    // TestParseReferenceWithTagAndDigest: both kept, familiar form is the input.
    valid("busybox:latest@sha256:" + busyboxHex, "docker.io/library/busybox:latest@sha256:" + busyboxHex,
          domain: "docker.io", path: "library/busybox", tag: "latest", digest: "sha256:" + busyboxHex,
          familiar: "busybox:latest@sha256:" + busyboxHex),
    // TestParseAnyReference (the name forms).
    valid("redis@sha256:" + redisHex, "docker.io/library/redis@sha256:" + redisHex, domain: "docker.io",
          path: "library/redis", digest: "sha256:" + redisHex, familiar: "redis@sha256:" + redisHex),
    valid("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest", domain: "docker.io", path: "dmcgowan/myapp",
          tag: "latest", familiar: "dmcgowan/myapp:latest"),
    valid(String(redisHex.dropLast()), "docker.io/library/" + redisHex.dropLast(), domain: "docker.io",
          path: "library/" + redisHex.dropLast(), familiar: String(redisHex.dropLast())),
    valid("dbcc1", "docker.io/library/dbcc1", domain: "docker.io", path: "library/dbcc1", familiar: "dbcc1"),
    // regexp_test.go reference and name matches.
    valid("registry.io/foo/project--id.module--name.ver---sion--name",
          "registry.io/foo/project--id.module--name.ver---sion--name", domain: "registry.io",
          path: "foo/project--id.module--name.ver---sion--name",
          familiar: "registry.io/foo/project--id.module--name.ver---sion--name"),
    valid("example.com/some_separator__underscore/myimage", "example.com/some_separator__underscore/myimage",
          domain: "example.com", path: "some_separator__underscore/myimage",
          familiar: "example.com/some_separator__underscore/myimage"),
    valid("Asdf.com/foo/bar", "Asdf.com/foo/bar", domain: "Asdf.com", path: "foo/bar", familiar: "Asdf.com/foo/bar"),
    valid("localhost:8080/name@sha256:" + registryHex, "localhost:8080/name@sha256:" + registryHex,
          domain: "localhost:8080", path: "name", digest: "sha256:" + registryHex,
          familiar: "localhost:8080/name@sha256:" + registryHex),
    valid("registry.com:8080/myapp:tag2@sha256:" + registryHex, "registry.com:8080/myapp:tag2@sha256:" + registryHex,
          domain: "registry.com:8080", path: "myapp", tag: "tag2", digest: "sha256:" + registryHex,
          familiar: "registry.com:8080/myapp:tag2@sha256:" + registryHex),

    // Derived from normalize.go.
    // A bare single element is always a Docker Hub name, even "localhost".
    valid("localhost@sha256:" + registryHex, "docker.io/library/localhost@sha256:" + registryHex,
          domain: "docker.io", path: "library/localhost", digest: "sha256:" + registryHex,
          familiar: "localhost@sha256:" + registryHex),
    // "sha256:<hex>" reads as the name "sha256" with a 64-character tag.
    valid("sha256:" + redisHex, "docker.io/library/sha256:" + redisHex, domain: "docker.io", path: "library/sha256",
          tag: redisHex, familiar: "sha256:" + redisHex),
    // The guessed domain fails the domain grammar, so the whole name is the path and there is no domain
    // (skopeo, on containers/image's fork of the package, agrees: it then pings a registry with no host).
    valid("foo_bar.com/x", "foo_bar.com/x", domain: "", path: "foo_bar.com/x", familiar: "foo_bar.com/x"),
    // Path length counts "library/": 8 + 247 = 255 is the longest official name.
    valid(String(repeating: "b", count: 247), "docker.io/library/" + String(repeating: "b", count: 247),
          domain: "docker.io", path: "library/" + String(repeating: "b", count: 247),
          familiar: String(repeating: "b", count: 247)),
    valid("foo:" + String(repeating: "t", count: 128), "docker.io/library/foo:" + String(repeating: "t", count: 128),
          domain: "docker.io", path: "library/foo", tag: String(repeating: "t", count: 128),
          familiar: "foo:" + String(repeating: "t", count: 128)),
]

/// How an invalid input must fail: the exact reason after `invalid reference "X": `, or a part of it.
enum ExpectedFailure: Sendable {
    case reason(String)
    case contains(String)
}

struct InvalidReferenceCase: CustomTestStringConvertible, Sendable {
    var input: String
    var failure: ExpectedFailure
    var testDescription: String { input.count > 60 ? String(input.prefix(60)) + "…" : "\"\(input)\"" }
}

private let format = ExpectedFailure.reason("invalid reference format")
private func lowercase(_ remote: String) -> ExpectedFailure {
    .reason("invalid reference format: repository name (\(remote)) must be lowercase")
}
private let tooLong = ExpectedFailure.reason("repository name must not be more than 255 characters")
private let badDigest = ExpectedFailure.contains("invalid digest")

private let invalidCases: [InvalidReferenceCase] = [
    // reference_test.go TestReferenceParse.
    .init(input: "", failure: format),
    .init(input: ":justtag", failure: format),
    .init(input: "@" + digestF, failure: format),
    .init(input: "repo@sha256:" + String(repeating: "f", count: 34), failure: badDigest),
    .init(input: "validname@invaliddigest:" + hexF, failure: badDigest),
    // The grammar allows sha512, but bale verifies sha256 only and says so (issue #10).
    .init(input: "example.com/app@sha512:" + String(repeating: "0", count: 128),
          failure: .contains("sha512 digests are not supported")),
    .init(input: "Uppercase:tag", failure: lowercase("library/Uppercase")),
    .init(input: "test:5000/Uppercase/lowercase:tag", failure: lowercase("Uppercase/lowercase")),
    .init(input: "domain/" + String(repeating: "a", count: 256) + ":tag", failure: tooLong),
    .init(input: "aa/asdf$$^/aa", failure: format),
    .init(input: "[2001:db8::1]", failure: format),
    .init(input: "[2001:db8::1]:5000", failure: format),
    .init(input: "[2001:db8::1]:tag", failure: format),
    .init(input: "[fe80::1%eth0]:5000/repo", failure: format),
    .init(input: "[fe80::1%@invalidzone]:5000/repo", failure: format),
    // normalize_test.go TestValidateReferenceName / TestValidateRemoteName.
    .init(input: "https://github.com/docker/docker", failure: format),
    .init(input: "docker/Docker", failure: lowercase("docker/Docker")),
    .init(input: "-docker", failure: format),
    .init(input: "-docker/docker", failure: format),
    .init(input: "-docker.io/docker/docker", failure: format),
    .init(input: "docker///docker", failure: format),
    .init(input: "docker.io/docker/Docker", failure: lowercase("docker/Docker")),
    .init(input: "docker.io/docker///docker", failure: format),
    .init(input: "[fc00::1]", failure: format),
    .init(input: "[fc00::1]:5000", failure: format),
    .init(input: "fc00::1:5000/debian", failure: format),
    .init(input: "[fe80::1%eth0]:5000/debian", failure: format),
    .init(input: "[2001:db8:3:4::192.0.2.33]:5000/debian", failure: format),
    .init(input: "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
          failure: .reason("invalid repository name (1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a), "
                           + "cannot specify 64-byte hexadecimal strings")),
    .init(input: "docker-/docker", failure: format),
    .init(input: "-docker-/docker", failure: format),
    .init(input: "____/____", failure: format),
    .init(input: "_docker/_docker", failure: format),
    .init(input: "dock..er/docker", failure: format),
    .init(input: "dock_.er/docker", failure: format),
    .init(input: "dock-.er/docker", failure: format),
    .init(input: "docker/", failure: format),
    .init(input: String(String(repeating: "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_",
                                   count: 4).dropLast()) + "/docker", failure: tooLong),
    .init(input: "-foo", failure: format),
    // regexp_test.go reference mismatches.
    .init(input: "registry.com:8080/myapp@sha256:badbadbadbad", failure: format),
    .init(input: "registry.com:8080/myapp:invalid~tag", failure: format),
    .init(input: "bad_hostname.com:8080/myapp:tag", failure: format),
    .init(input: "localhost:http/name@sha256:" + registryHex, failure: format),
    .init(input: "registry.com:8080/myapp@bad", failure: format),
    .init(input: "registry.com:8080/myapp@2bad", failure: format),
    .init(input: "a^a", failure: format),
    .init(input: "a/a/a/a/", failure: format),
    .init(input: "a//a/a", failure: format),
    .init(input: "foo.com/", failure: format),
    .init(input: "foo.com:http/bar", failure: format),
    .init(input: "foo_bar.com:8080/app", failure: format),
    .init(input: "example.com/__underscore/myimage", failure: format),
    .init(input: "example.com/.dots/myimage", failure: format),
    .init(input: "docker./docker", failure: format),
    .init(input: "do__cker:8080/docker", failure: format),
    // Derived from normalize.go / reference.go.
    .init(input: "foo:", failure: format),
    .init(input: "foo@", failure: format),
    .init(input: "foo:-tag", failure: format),
    .init(input: "foo:" + String(repeating: "t", count: 129), failure: format),
    .init(input: String(repeating: "b", count: 248), failure: tooLong),
    // An uppercase first element is taken as a domain; it fails the domain grammar but the lowercased
    // text would parse, so the strict parser says "must be lowercase".
    .init(input: "FOO_BAR/x", failure: .reason("repository name must be lowercase")),
    // The loose digest grammar allows uppercase hex; the strict digest does not.
    .init(input: "foo@sha256:" + String(repeating: "F", count: 64), failure: badDigest),
    // "@SHA256" lands in the repository part that docker checks for case.
    .init(input: "foo@SHA256:" + hexF, failure: lowercase("library/foo@SHA256")),
    .init(input: "example.com/app@sha384:" + String(repeating: "0", count: 96), failure: badDigest),
    .init(input: "example.com/app:tag@sha256:" + hexF + "0", failure: badDigest),
]

@Suite("Reference")
struct ReferenceTests {
    @Test("parses and normalises", arguments: validCases)
    func parsesValid(_ c: ValidReferenceCase) throws {
        let ref = try Reference(parsing: c.input)
        #expect(ref.string == c.string)
        #expect(ref.description == c.string)
        #expect(ref.domain == c.domain)
        #expect(ref.path == c.path)
        #expect(ref.tag == c.tag)
        #expect(ref.digest?.string == c.digest)
        #expect(ref.familiar == c.familiar)
        #expect(ref.name == (c.domain.isEmpty ? c.path : c.domain + "/" + c.path))
        // The normalised and familiar forms are fixed points of parsing.
        #expect(try Reference(parsing: ref.string) == ref)
        // ... except a familiar form that is 64 hex digits, which reads as an image ID.
        if Digest.isLowerHex(ref.familiar, length: 64) {
            #expect(throws: BaleError.self) { try Reference(parsing: ref.familiar) }
        } else {
            #expect(try Reference(parsing: ref.familiar) == ref)
        }
    }

    @Test("refuses invalid input", arguments: invalidCases)
    func refusesInvalid(_ c: InvalidReferenceCase) throws {
        let error = try #require(throws: BaleError.self) { try Reference(parsing: c.input) }
        #expect(error.code == .invalidReference)
        let prefix = "invalid reference \"\(c.input)\": "
        #expect(error.message.hasPrefix(prefix))
        let reason = String(error.message.dropFirst(prefix.count))
        switch c.failure {
        case .reason(let expected): #expect(reason == expected)
        case .contains(let part): #expect(reason.contains(part))
        }
    }

    @Test("has at least forty published and derived cases")
    func caseCount() {
        #expect(validCases.count + invalidCases.count >= 40)
    }

    @Test("familiar names drop docker.io and a lone library/")
    func familiarNames() throws {
        #expect(try Reference(parsing: "docker.io/library/redis:7").familiar == "redis:7")
        #expect(try Reference(parsing: "docker.io/library/redis").familiarName == "redis")
        #expect(try Reference(parsing: "docker.io/dmcgowan/myapp").familiarName == "dmcgowan/myapp")
        #expect(try Reference(parsing: "gcr.io/library/busybox").familiarName == "gcr.io/library/busybox")
        let unchecked = Reference(domain: "docker.io", path: "library/a/b", tag: "t", digest: nil)
        #expect(unchecked.familiar == "library/a/b:t")
    }

    // normalize_test.go TestParseDockerRef, except that both tag and digest are kept (callers decide).
    @Test("withDefaultTag adds latest only to a bare name", arguments: [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        ("busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
         "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
        ("library/busybox:latest", "docker.io/library/busybox:latest"),
        ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        ("gcr.io/library/busybox:1.36", "gcr.io/library/busybox:1.36"),
        ("gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
         "gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"),
    ])
    func defaultTag(_ input: String, _ expected: String) throws {
        #expect(try Reference(parsing: input).withDefaultTag().string == expected)
    }

    @Test("withTag replaces the tag and drops the digest")
    func withTag() throws {
        let ref = try Reference(parsing: "example.com/app:old@" + digestF)
        let retagged = try ref.withTag("new")
        #expect(retagged.string == "example.com/app:new")
        #expect(retagged.digest == nil)
        #expect(retagged.domain == "example.com" && retagged.path == "app")
        let error = try #require(throws: BaleError.self) { try ref.withTag("-foo") }
        #expect(error.code == .invalidReference)
        #expect(error.message.contains("\"-foo\""))
    }

    @Test("tag grammar", arguments: [
        ("latest", true), ("1.36.1-musl", true), ("_x", true), ("Foo.Bar_baz-9", true),
        (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false),
        ("", false), ("-foo", false), (".foo", false), ("a:b", false), ("a/b", false), ("a@b", false),
        ("invalid~tag", false), ("é", false),
    ])
    func tagGrammar(_ tag: String, _ isValid: Bool) {
        #expect(Reference.isValidTag(tag) == isValid)
    }

    @Test("equal spellings give equal references")
    func equality() throws {
        let a = try Reference(parsing: "busybox")
        let b = try Reference(parsing: "docker.io/library/busybox")
        let c = try Reference(parsing: "index.docker.io/busybox")
        #expect(a == b && b == c)
        #expect(Set([a, b, c]).count == 1)
        #expect(try Reference(parsing: "busybox:1") != a)
        #expect(Reference(domain: "docker.io", path: "library/busybox", tag: nil, digest: nil) == a)
    }

    @Test("orders by string")
    func ordering() throws {
        let refs = try ["redis:7", "alpine", "quay.io/x/y", "busybox:1", "busybox"].map(Reference.init(parsing:))
        #expect(refs.sorted().map(\.string) == [
            "docker.io/library/alpine", "docker.io/library/busybox", "docker.io/library/busybox:1",
            "docker.io/library/redis:7", "quay.io/x/y",
        ])
        #expect(refs[1] < refs[0])
    }

    @Test("splitDockerDomain follows normalize.go's rules")
    func splitDomain() {
        #expect(Reference.splitDockerDomain("ubuntu") == ("docker.io", "library/ubuntu"))
        #expect(Reference.splitDockerDomain("example.com") == ("docker.io", "library/example.com"))
        #expect(Reference.splitDockerDomain("localhost/x") == ("localhost", "x"))
        #expect(Reference.splitDockerDomain("index.docker.io/x") == ("docker.io", "library/x"))
        #expect(Reference.splitDockerDomain("a.b/x/y") == ("a.b", "x/y"))
        #expect(Reference.splitDockerDomain("a:1/x") == ("a:1", "x"))
        #expect(Reference.splitDockerDomain("Abc/x") == ("Abc", "x"))
        #expect(Reference.splitDockerDomain("abc/x") == ("docker.io", "abc/x"))
    }
}
