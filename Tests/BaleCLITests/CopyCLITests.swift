import Foundation
import Bale
import BaleCore
import BaleIO
import Testing

/// `bale copy` between locations, run as the built binary.
@Suite struct CopyCLITests {
    @Test func copyWithinTheStoreFinishesAndOnlyAddsAName() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
            try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
            try Data("hi\n".utf8).write(to: dir.appendingPathComponent("src/f"))
            let imported = try CLIRunner.bale(["import", dir.path + "/src", "app:1"], environment: env)
            #expect(imported.status == 0, "\(imported)")
            // Before, the store source's shared flock and the store destination's exclusive one were two
            // open file descriptions of one process: the copy waited for itself forever.
            let copied = try CLIRunner.bale(["copy", "app:1", "copy:2"], environment: env, timeout: 60)
            #expect(copied.status == 0, "\(copied)")
            #expect(copied.err.contains("0 blobs written"), "\(copied)")
            let listed = try CLIRunner.bale(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], environment: env)
            let lines = listed.lines.sorted()
            #expect(lines.count == 2)
            #expect(Set(lines.map { $0.split(separator: " ").last ?? "" }).count == 1, "\(listed)")
            #expect(lines.first?.hasPrefix("app:1 ") == true && lines.last?.hasPrefix("copy:2 ") == true, "\(listed)")
        }
    }
}

extension CopyCLITests {
    /// A two-platform OCI layout (linux/amd64, linux/arm64) at `dir`, named `multi`; returns the
    /// index digest and the arm64 manifest digest.
    static func multiPlatformLayout(at dir: String) throws -> (index: String, arm64: String) {
        let blobs = dir + "/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        func put(_ data: Data) throws -> Descriptor {
            let digest = SHA256Hasher.digest(data)
            try data.write(to: URL(fileURLWithPath: blobs + "/" + digest.encoded))
            return Descriptor(mediaType: .ociLayer, digest: digest, size: Int64(data.count))
        }
        var children: [Descriptor] = []
        for arch in ["amd64", "arm64"] {
            let layer = try put(Data("layer for \(arch)".utf8))
            var config = ImageConfig(architecture: arch, os: "linux", rootfs: .init(diffIDs: [layer.digest]))
            config.created = "2024-05-01T10:00:00Z"
            var configDescriptor = try put(JSON.canonical(config))
            configDescriptor.mediaType = .ociConfig
            var manifest = try put(JSON.canonical(Manifest(mediaType: .ociManifest, config: configDescriptor, layers: [layer])))
            manifest.mediaType = .ociManifest
            manifest.platform = Platform(os: "linux", architecture: arch)
            children.append(manifest)
        }
        var index = try put(JSON.canonical(Index(mediaType: .ociIndex, manifests: children)))
        index.mediaType = .ociIndex
        index.annotations = [Descriptor.Annotation.refName: "multi"]
        try JSON.canonical(Index(mediaType: .ociIndex, manifests: [index])).write(to: URL(fileURLWithPath: dir + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/oci-layout"))
        return (index.digest.string, children[1].digest.string)
    }

    /// A --platform the index does not hold is refused with the platforms it does hold, so that the
    /// next try can name one (before, it only said to use the --platform just given).
    @Test func aPlatformTheIndexLacksIsRefusedWithThoseItHolds() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store"]
            _ = try Self.multiPlatformLayout(at: dir.path + "/layout")
            let refused = try CLIRunner.bale(["copy", "--platform", "linux/arm/v7", "oci:\(dir.path)/layout:multi", "multi:1"], environment: env)
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.err.contains("has no image for linux/arm/v7 (it holds linux/amd64, linux/arm64)"), "\(refused)")
            let listed = try CLIRunner.bale(["images", "-a", "-q"], environment: env)
            #expect(listed.status == 0 && listed.out.isEmpty, "nothing stored: \(listed)")
        }
    }

    /// A REF that names several images (ref.name is the tag alone in an OCI save, so `1` names both
    /// app:1 and tools:1) cannot go to one destination name: the refusal names them and how to pick one.
    @Test func aRefNamingSeveralImagesIsRefusedWithTheirNames() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store"]
            for (file, name) in [("a", "app:1"), ("b", "tools:1")] {
                try FileManager.default.createDirectory(atPath: dir.path + "/\(file)", withIntermediateDirectories: true)
                try Data(file.utf8).write(to: dir.appendingPathComponent("\(file)/f"))
                let imported = try CLIRunner.bale(["import", dir.path + "/\(file)", name], environment: env)
                #expect(imported.status == 0, "\(imported)")
            }
            let archive = dir.path + "/oci.tar"
            #expect(try CLIRunner.bale(["save", "--format", "oci", "-o", archive, "app:1", "tools:1"], environment: env).status == 0)
            let refused = try CLIRunner.bale(["copy", "oci-archive:\(archive):1", "one:1"], environment: env)
            #expect(refused.status == 2, "\(refused)")
            #expect(refused.err.contains("holds 2 images (app:1, tools:1)") && refused.err.contains("by its full name or position"), "\(refused)")
            let picked = try CLIRunner.bale(["copy", "oci-archive:\(archive):tools:1", "one:1"], environment: env)
            #expect(picked.status == 0, "\(picked)")
        }
    }

    /// `save` of an image the store holds as a multi-platform index writes the whole index (its digest
    /// unchanged) unless `--platform` narrows it; before, it wrote the host's platform only.
    @Test func saveKeepsAStoredIndexWholeFromTheCommandLine() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store"]
            let layout = try Self.multiPlatformLayout(at: dir.path + "/layout")
            let loaded = try CLIRunner.bale(["copy", "--all-platforms", "oci:\(dir.path)/layout:multi", "multi:1"], environment: env)
            #expect(loaded.status == 0, "\(loaded)")
            for (extra, want) in [([String](), layout.index), (["--platform", "linux/arm64"], layout.arm64)] {
                let out = dir.path + "/out-\(extra.count).tar"
                let saved = try CLIRunner.bale(["save"] + extra + ["-o", out, "multi:1"], environment: env)
                #expect(saved.status == 0, "\(saved)")
                let listed = try CLIRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "tar -xOf '\(out)' index.json"])
                #expect(listed.out.contains(want), "save \(extra) wrote \(listed.out)")
            }
        }
    }
}
