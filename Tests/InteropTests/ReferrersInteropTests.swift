import Foundation
import Testing
import TestSupport

/// Referrers riding along, end to end, against the real peers: an image in a real docker-registry 2.8
/// with an OCI 1.1 signature artifact (its `subject` the image; 2.8 has no referrers API, so the test
/// keeps the `sha256-<hex>` fallback index as an OCI client does) and a cosign-style `sha256-<hex>.sig`
/// tag, all created here with curl; then registry → oci-archive → load → `bale serve` → skopeo and the
/// referrers API, with the same digests; `--no-referrers` drops them; a push keeps them in a registry.
@Suite(.serialized) struct ReferrersInteropTests {
    static func curl(_ arguments: [String]) throws -> RunResult {
        try Harness.peer("curl", ["-sS", "--fail-with-body"] + arguments)
    }

    static func digest(_ data: Data) throws -> String {
        let r = try Harness.peer("sha256sum", [], stdin: data)
        return "sha256:" + (r.out.split(separator: " ").first.map(String.init) ?? "")
    }

    static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    @discardableResult
    static func mustBale(_ arguments: [String], root: URL? = nil) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        guard r.succeeded else { throw HarnessError("bale failed: \(r)") }
        return r
    }

    /// Uploads a blob as a client does: POST opens an upload, one PUT to its Location with the digest ends it.
    static func pushBlob(_ data: Data, _ registry: Registry, _ repository: String, directory: URL) throws -> [String: Any] {
        let d = try digest(data)
        let file = directory.appendingPathComponent("blob-" + d.dropFirst(7))
        try data.write(to: file)
        let opened = try curl(["-i", "-X", "POST", "\(registry.url)/v2/\(repository)/blobs/uploads/"])
        guard opened.succeeded, let line = opened.out.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("location:") }) else {
            throw HarnessError("blob upload: \(opened)")
        }
        var location = line.dropFirst("location:".count).trimmingCharacters(in: .whitespaces)
        if location.hasPrefix("/") { location = registry.url + location }
        let r = try curl(["-X", "PUT", "-H", "Content-Type: application/octet-stream", "--data-binary", "@" + file.path,
                          location + (location.contains("?") ? "&" : "?") + "digest=\(d)"])
        guard r.succeeded else { throw HarnessError("blob upload: \(r)") }
        return ["digest": d, "size": data.count]
    }

    /// PUTs a manifest or index under `reference`; returns its digest.
    static func putManifest(_ data: Data, type: String, _ registry: Registry, _ repository: String, _ reference: String,
                            directory: URL) throws -> String {
        let d = try digest(data)
        let file = directory.appendingPathComponent("manifest-" + d.dropFirst(7))
        try data.write(to: file)
        let r = try curl(["-X", "PUT", "-H", "Content-Type: \(type)", "--data-binary", "@" + file.path,
                          "\(registry.url)/v2/\(repository)/manifests/\(reference)"])
        guard r.succeeded else { throw HarnessError("manifest put \(reference): \(r)") }
        return d
    }

    struct Signed {
        let image: String       // the image's manifest digest
        let referrer: String    // the OCI 1.1 artifact's digest
        let signature: String   // the cosign .sig manifest's digest
        var sigTag: String { "sha256-\(image.dropFirst(7)).sig" }
    }

    static let artifactType = "application/vnd.example.signature.v1+json"

    /// Pushes app:1 (generated) to `registry` with bale, then its OCI 1.1 referrer (and fallback index)
    /// and its cosign signature tag with curl.
    static func signedImage(in registry: Registry, directory: URL) throws -> Signed {
        let layout = try Harness.makeLayout(in: directory, images: ["app:1=layers=1,files=2,size=4096"])
        try mustBale(["copy", "oci:\(layout.path):app:1", "docker://\(registry.host)/app:1"])
        let head = try curl(["-I", "-H", "Accept: application/vnd.oci.image.manifest.v1+json", "\(registry.url)/v2/app/manifests/1"])
        let imageDigest = head.out.split(separator: "\r\n").first { $0.lowercased().hasPrefix("docker-content-digest:") }
            .map { String($0.split(separator: " ")[1]).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        let imageSize = try curl(["\(registry.url)/v2/app/manifests/\(imageDigest)", "-H", "Accept: application/vnd.oci.image.manifest.v1+json"]).stdout.count
        let subject: [String: Any] = ["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": imageDigest, "size": imageSize]

        // The OCI 1.1 referrer: an artifact manifest with an empty config and one signature layer.
        var empty = try pushBlob(Data("{}".utf8), registry, "app", directory: directory)
        empty["mediaType"] = "application/vnd.oci.empty.v1+json"
        var signatureLayer = try pushBlob(Data(#"{"signature":"\#(imageDigest)"}"#.utf8), registry, "app", directory: directory)
        signatureLayer["mediaType"] = artifactType
        let annotations = ["org.opencontainers.image.created": "2024-05-01T10:00:00Z", "org.example.signer": "interop"]
        let artifact = try json(["schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                 "artifactType": artifactType, "config": empty, "layers": [signatureLayer],
                                 "subject": subject, "annotations": annotations])
        let referrer = try putManifest(artifact, type: "application/vnd.oci.image.manifest.v1+json", registry, "app",
                                       try digest(artifact), directory: directory)
        // The referrers tag schema's fallback index, as an OCI client keeps it on a registry without the API.
        let fallback = try json(["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                 "manifests": [["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": referrer,
                                                "size": artifact.count, "artifactType": artifactType, "annotations": annotations]]])
        _ = try putManifest(fallback, type: "application/vnd.oci.image.index.v1+json", registry, "app",
                            "sha256-\(imageDigest.dropFirst(7))", directory: directory)

        // The cosign-style signature: a simple-signing payload layer with cosign's annotations, tagged sha256-<hex>.sig.
        let payload = Data(#"{"critical":{"identity":{"docker-reference":"\#(registry.host)/app"},"image":{"docker-manifest-digest":"\#(imageDigest)"},"type":"cosign container image signature"},"optional":null}"#.utf8)
        var payloadLayer = try pushBlob(payload, registry, "app", directory: directory)
        payloadLayer["mediaType"] = "application/vnd.dev.cosign.simplesigning.v1+json"
        payloadLayer["annotations"] = ["dev.cosignproject.cosign/signature": "MEUCIQC0interopsignature"]
        let config = Data(#"{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["\#(try digest(payload))"]}}"#.utf8)
        var configDescriptor = try pushBlob(config, registry, "app", directory: directory)
        configDescriptor["mediaType"] = "application/vnd.oci.image.config.v1+json"
        let sigManifest = try json(["schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "config": configDescriptor, "layers": [payloadLayer]])
        let signed = Signed(image: imageDigest, referrer: referrer, signature: try digest(sigManifest))
        _ = try putManifest(sigManifest, type: "application/vnd.oci.image.manifest.v1+json", registry, "app", signed.sigTag,
                            directory: directory)
        return signed
    }

    @Test func referrersSurviveRegistryArchiveLoadServeAndSkopeo() throws {
        try Harness.withTemporaryDirectory { directory in
            try Registry.with { registry in
                let signed = try Self.signedImage(in: registry, directory: directory)
                #expect(signed.image.count == 71)

                // registry → archive, with and without referrers.
                let archive = directory.appendingPathComponent("signed.tar").path
                let bare = directory.appendingPathComponent("bare.tar").path
                try Self.mustBale(["copy", "docker://\(registry.host)/app:1", "oci-archive:\(archive):app:1"])
                try Self.mustBale(["copy", "--no-referrers", "docker://\(registry.host)/app:1", "oci-archive:\(bare):app:1"])

                // → load into two stores.
                let store = directory.appendingPathComponent("store")
                let plain = directory.appendingPathComponent("plain")
                try Self.mustBale(["load", "-i", archive], root: store)
                try Self.mustBale(["load", "-i", bare], root: plain)
                let inspected = try Self.mustBale(["inspect", "app:1"], root: store).out
                #expect(inspected.contains(signed.referrer) && inspected.contains(signed.signature), "\(inspected)")
                let inspectedPlain = try Self.mustBale(["inspect", "app:1"], root: plain).out
                #expect(!inspectedPlain.contains("Referrers"), "\(inspectedPlain)")

                // → serve → skopeo and the referrers API, same digests.
                try BaleServer.with([], root: store, directory: directory) { server in
                    let image = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(server.host)/app:1"])
                    #expect(image.succeeded, "\(image)")
                    #expect(try Self.digest(image.stdout) == signed.image)
                    let sig = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(server.host)/app:\(signed.sigTag)"])
                    #expect(sig.succeeded, "\(sig)")
                    #expect(try Self.digest(sig.stdout) == signed.signature)
                    #expect(sig.out.contains("application/vnd.dev.cosign.simplesigning.v1+json"))
                    let listed = try Self.curl(["http://\(server.host)/v2/app/referrers/\(signed.image)"])
                    #expect(listed.succeeded, "\(listed)")
                    let index = try JSONSerialization.jsonObject(with: listed.stdout) as? [String: Any] ?? [:]
                    let manifests = index["manifests"] as? [[String: Any]] ?? []
                    #expect(manifests.map { $0["digest"] as? String } == [signed.referrer], "\(listed.out)")
                    #expect(manifests.first?["artifactType"] as? String == Self.artifactType)
                    let raw = try Self.curl(["-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                                             "http://\(server.host)/v2/app/manifests/\(signed.referrer)"])
                    #expect(try Self.digest(raw.stdout) == signed.referrer)
                }
                // --no-referrers: neither the .sig tag nor a referrer is served.
                try BaleServer.with([], root: plain, directory: directory) { server in
                    let sig = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(server.host)/app:\(signed.sigTag)"])
                    #expect(!sig.succeeded)
                    let listed = try Harness.peer("curl", ["-sS", "http://\(server.host)/v2/app/referrers/\(signed.image)"])
                    #expect(!listed.out.contains(signed.referrer), "\(listed.out)")
                }

                // store → registry: the referrer goes up after its subject (the fallback index kept,
                // 2.8 having no referrers API) and the signature under its tag.
                try Self.mustBale(["push", "app:1", "docker://\(registry.host)/copied:1"], root: store)
                let fallback = try Self.curl(["-H", "Accept: application/vnd.oci.image.index.v1+json",
                                              "\(registry.url)/v2/copied/manifests/sha256-\(signed.image.dropFirst(7))"])
                #expect(fallback.succeeded && fallback.out.contains(signed.referrer), "\(fallback)")
                let pushedSig = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/copied:\(signed.sigTag)"])
                #expect(pushedSig.succeeded, "\(pushedSig)")
                #expect(try Self.digest(pushedSig.stdout) == signed.signature)
            }
        }
    }
}
