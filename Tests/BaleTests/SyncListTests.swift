import Bale
import BaleCore
import Foundation
import Testing

/// `bale sync`'s list: skopeo sync's YAML and the plain text form, told apart by content; the
/// semver constraints of `images-by-semver`.
@Suite struct SyncListTests {
    static let skopeoExample = """
        registry.example.com:
            images:
                busybox: []
                redis:
                    - "1.0"
                    - "2.0"
                    - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
            images-by-tag-regex:
                nginx: ^1\\.13\\.[12]-alpine-perl$
            images-by-semver:
                alpine: ">= 3.12.0, < 4"
            credentials:
                username: john
                password: this is a secret
            tls-verify: true
            cert-dir: /home/john/certs
        quay.io:
            tls-verify: false
            images:
                coreos/etcd:
                    - latest
        """

    @Test func skopeosExampleParses() throws {
        let list = try SyncList(text: Self.skopeoExample, path: "sync.yml")
        #expect(list.registries.map(\.host) == ["registry.example.com", "quay.io"])
        let first = list.registries[0]
        #expect(first.credential == RegistryCredential(username: "john", password: "this is a secret"))
        #expect(first.tlsVerify == true)
        #expect(first.certDirectory == "/home/john/certs")
        var seen: [String] = []
        for selection in first.selections {
            switch selection {
            case .tags(let repository, let tags): seen.append("\(repository)=\(tags.joined(separator: ","))")
            case .tagRegex(let repository, let pattern): seen.append("\(repository)~\(pattern)")
            case .semver(let repository, let constraint): seen.append("\(repository)@\(constraint)")
            }
        }
        #expect(seen == ["busybox=", "redis=1.0,2.0,sha256:0000000000000000000000000000000011111111111111111111111111111111",
                         #"nginx~^1\.13\.[12]-alpine-perl$"#, "alpine@>= 3.12.0, < 4"])
        #expect(list.registries[1].tlsVerify == false)
    }

    @Test func theTextFormIsOneReferenceALine() throws {
        let text = """
            # images for the site
            127.0.0.1:5000/app:1
            127.0.0.1:5000/team/tool   # latest

            alpine:3.19
            127.0.0.1:5000/app@sha256:0000000000000000000000000000000011111111111111111111111111111111
            """
        let list = try SyncList(text: text, path: "images.txt")
        #expect(list.registries.map(\.host) == ["127.0.0.1:5000", "docker.io"])
        let tags = list.registries[0].selections.compactMap { selection -> String? in
            guard case .tags(let repository, let tags) = selection else { return nil }
            return "\(repository)=\(tags.joined())"
        }
        #expect(tags == ["app=1", "team/tool=latest",
                         "app=sha256:0000000000000000000000000000000011111111111111111111111111111111"])
        guard case .tags("library/alpine", ["3.19"]) = list.registries[1].selections[0] else {
            Issue.record("docker.io/library/alpine:3.19 expected"); return
        }
    }

    @Test func aBadReferenceInTheTextFormNamesTheLine() throws {
        #expect {
            try SyncList(text: "127.0.0.1:5000/app:1\nUPPER/Case:1\n", path: "images.txt")
        } throws: { ($0 as? BaleError)?.message.hasPrefix("images.txt:2: ") == true }
    }

    @Test(arguments: [
        ("127.0.0.1:5000:\n  images:\n    app: [1\n", "sync.yml:4:"),          // unclosed flow sequence
        ("reg:\n  images:\n    app:\n      - 1\n  tls-verfy: false\n", "sync.yml:5:"),  // unknown key
        ("reg:\n  images-by-semver:\n    app: \">= one\"\n", "sync.yml:3:"),     // bad constraint
        ("reg:\n  images-by-tag-regex:\n    app: \"[\"\n", "sync.yml:3:"),       // bad regex
        ("reg:\n  images:\n    app: latest\n", "sync.yml:3:"),                   // not a list
    ])
    func aMalformedYAMLNamesTheFileAndLine(text: String, prefix: String) throws {
        #expect {
            try SyncList(text: text, path: "sync.yml")
        } throws: { error in
            let message = (error as? BaleError)?.message ?? ""
            return message.hasPrefix(prefix)
        }
    }

    @Test(arguments: [
        (">= 3.12.0, < 4", ["3.12", "3.12.1", "3.19.0"], ["3.11.9", "4.0", "latest", "3.13.0-rc1"]),
        (">=1.2 <1.4", ["1.2.0", "1.3.9"], ["1.4.0", "1.1"]),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["2.0.0", "1.2.2"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.9"], ["2.0.0"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0", "1.1.9"]),
        ("1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("*", ["0.0.1", "9.9.9", "v2"], ["2.0.0-beta", "edge"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1.2", ["1.2.9", "1.0.0"], ["1.3.0"]),
        ("<1.2", ["1.1.9"], ["1.2.0"]),
        ("=1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4"]),
        ("1.0 - 1.4", ["1.0.0", "1.4.9"], ["1.5.0", "0.9.9"]),
        ("1.x || >=3, !=3.1.0", ["1.5.0", "3.0.0", "3.2.0"], ["2.0.0", "3.1.0"]),
        (">= 2.0.0-beta", ["2.0.0-beta", "2.0.0-rc.1", "2.0.0"], ["1.9.0"]),
    ])
    func semverConstraints(constraint: String, matching: [String], notMatching: [String]) throws {
        let parsed = try SemverConstraint(parsing: constraint)
        for tag in matching { #expect(parsed.matches(tag: tag), "\(constraint) should match \(tag)") }
        for tag in notMatching { #expect(!parsed.matches(tag: tag), "\(constraint) should not match \(tag)") }
    }

    @Test(arguments: ["", ">=", "1.2.3.4", "a.b", ">= 1 ||", "!=1.2"])
    func badConstraintsAreRefused(text: String) {
        #expect(throws: BaleError.self) { try SemverConstraint(parsing: text) }
    }
}
