import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// `bale images --tree` and `bale inspect` show what refers to an image; `--no-referrers` is offered by
/// every copy-type command.
@Suite struct ReferrersCLITests {
    /// A store with example.com/app:1 (imported), an OCI 1.1 signature artifact whose subject it is
    /// (an unnamed entry) and a cosign attachment tagged `sha256-<hex>.sig`; `body` gets the
    /// environment, the image's digest and the two referrer digests.
    static func withSignedImage(_ body: ([String: String?], Digest, Digest, Digest) throws -> Void) throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
            try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
            try Data("app".utf8).write(to: dir.appendingPathComponent("src/f"))
            let made = try CLIRunner.bale(["import", dir.path + "/src", "example.com/app:1"], environment: env)
            #expect(made.status == 0, "\(made)")
            let store = try Store(root: dir.path + "/store")
            let image = try store.image("example.com/app:1").descriptor
            func put(_ manifest: Manifest, blobs: [Data], names: [String]) throws -> Digest {
                for blob in blobs { _ = try store.putBlob(blob) }
                let bytes = try JSON.canonical(manifest)
                let d = Descriptor(mediaType: .ociManifest, digest: try store.putBlob(bytes), size: Int64(bytes.count))
                try store.addImage(d, names: names.map { try Reference(parsing: $0) })
                return d.digest
            }
            let empty = Data("{}".utf8), sig = Data("signature".utf8)
            var artifact = Manifest(mediaType: .ociManifest,
                                    config: Descriptor(mediaType: .ociEmpty, digest: SHA256Hasher.digest(empty), size: 2),
                                    layers: [Descriptor(mediaType: "application/vnd.example.sig", digest: SHA256Hasher.digest(sig), size: Int64(sig.count))],
                                    annotations: ["org.example.signer": "ci"])
            artifact.artifactType = "application/vnd.example.sig"
            artifact.subject = image
            let oci = try put(artifact, blobs: [empty, sig], names: [])
            let payload = Data(#"{"critical":{}}"#.utf8)
            let cosign = Manifest(mediaType: .ociManifest,
                                  config: Descriptor(mediaType: .ociEmpty, digest: SHA256Hasher.digest(empty), size: 2),
                                  layers: [Descriptor(mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
                                                      digest: SHA256Hasher.digest(payload), size: Int64(payload.count),
                                                      annotations: ["dev.cosignproject.cosign/signature": "MEUC"])])
            let tagged = try put(cosign, blobs: [empty, payload], names: ["example.com/app:sha256-\(image.digest.encoded).sig"])
            try body(env, image.digest, oci, tagged)
        }
    }

    @Test func imagesTreeShowsReferrersUnderTheirImage() throws {
        try Self.withSignedImage { env, image, oci, cosign in
            let run = try CLIRunner.bale(["images", "--tree"], environment: env)
            #expect(run.status == 0, "\(run)")
            let lines = run.lines.map { $0.replacingOccurrences(of: #" +"#, with: " ", options: .regularExpression) }
            #expect(lines.count == 4, "\(run.out)")
            #expect(lines.first == "IMAGE ID SIZE")
            #expect(lines.dropFirst().first?.hasPrefix("example.com/app:1 ") == true)
            let children = Array(lines.dropFirst(2)).sorted()
            let expected = [("application/vnd.example.sig \(oci.shortHex)"),
                            ("application/vnd.oci.empty.v1+json \(cosign.shortHex) sha256-\(image.encoded).sig")]
            #expect(children.map { String($0.dropFirst(3)) }.sorted() == expected.sorted())
            #expect(lines.last?.hasPrefix("└─ ") == true && lines[2].hasPrefix("├─ "))
            // The plain list shows the image only.
            let plain = try CLIRunner.bale(["images", "--format", "{{.Repository}}:{{.Tag}}"], environment: env)
            #expect(plain.lines == ["example.com/app:1"])
        }
    }

    @Test func inspectListsReferrers() throws {
        try Self.withSignedImage { env, image, oci, cosign in
            let run = try CLIRunner.bale(["inspect", "example.com/app:1"], environment: env)
            #expect(run.status == 0, "\(run)")
            struct Described: Decodable {
                struct Entry: Decodable { let mediaType: String; let artifactType: String?; let digest: String; let tag: String?; let annotations: [String: String]? }
                let Referrers: [Entry]?
            }
            let described = try JSONDecoder().decode([Described].self, from: run.stdout)
            let referrers = try #require(described.first?.Referrers)
            #expect(referrers.map(\.digest).sorted() == [oci.string, cosign.string].sorted())
            let signature = try #require(referrers.first { $0.digest == oci.string })
            #expect(signature.artifactType == "application/vnd.example.sig" && signature.annotations == ["org.example.signer": "ci"])
            #expect(referrers.first { $0.digest == cosign.string }?.tag == "sha256-\(image.encoded).sig")
        }
    }

    @Test func everyCopyCommandOffersNoReferrers() throws {
        for command in ["copy", "save", "load", "pull", "push", "sync"] {
            let run = try CLIRunner.bale([command, "--help"])
            #expect(run.out.contains("--no-referrers"), "\(command)")
        }
        let images = try CLIRunner.bale(["images", "--help"])
        #expect(images.out.contains("--tree"))
    }
}
