import BaleCore
import Foundation

// A `docker save` tarball (FORMATS.md sections 1 and 2). Two forms, often both in one file:
//
// ```
// legacy (Docker ≤ 24, skopeo)              Docker 25+ (OCI layout inside; containerd-store variant)
// <config-hex>.json     config bytes        oci-layout           {"imageLayoutVersion":"1.0.0"}
// <v1id>/VERSION        ignored             index.json           one entry per tag (both name annotations)
// <v1id>/json           ignored             blobs/sha256/<hex>   configs, manifests, indexes, layers
// <v1id>/layer.tar      tar, or a symlink   manifest.json        Config/Layers = blobs/sha256/<hex>
//                       ../<other>/layer.tar repositories        {"repo":{"tag":"<top diffID hex>"}}
// <diffid-hex>.tar      skopeo: the layer,
//                       <v1id>/layer.tar -> ../<diffid-hex>.tar
// manifest.json         [{"Config","RepoTags","Layers","Parent"?,"LayerSources"?}]
// repositories          ignored when manifest.json exists
// ```
//
// bale reads either (manifest.json decides; an OCI layout alone is read through index.json) and writes
// both at once, like Docker 25, so Docker of any version, containerd and skopeo load what it writes.

/// `docker-archive:FILE[:NAME[:TAG]]` or `docker-archive:FILE:@N`; FILE `-` is stdin (reading) or stdout
/// (writing).
public enum DockerArchiveFormat: LocationFormat {
    public static let prefix = "docker-archive"

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        if path == "-" {
            return try DockerArchiveSource(fileDescriptor: 0, reference: reference, name: "\(prefix):-")
        }
        return try DockerArchiveSource(path: path, reference: reference)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        if let reference {
            // The name itself reaches the copier as the image's name (`Location.name`); only check it here.
            guard !reference.hasPrefix("@") else {
                throw BaleError(.usage, "\(prefix):\(path):\(reference): a position (@N) selects an image to read; name the image to write instead")
            }
            _ = try Reference(parsing: reference)
        }
        return try DockerArchiveDestination(path: path, compression: context.compression,
                                            temporaryDirectory: context.temporaryDirectory)
    }
}

/// One entry of `manifest.json` (moby's `manifestItem`; containers/image `ManifestItem`).
struct DockerArchiveManifestItem: Codable, Sendable, Equatable {
    /// Archive path of the config.
    var config: String
    /// `name:tag` strings, familiar (docker) or full (skopeo); `null` or `[]` for an untagged image.
    var repoTags: [String]?
    /// Archive paths of the layers, bottom first.
    var layers: [String]
    /// The ID of a parent image in the same file (legacy, informative only).
    var parent: String?
    /// DiffID → descriptor of foreign layers that are not in the archive.
    var layerSources: [String: Descriptor]?

    enum CodingKeys: String, CodingKey {
        case config = "Config", repoTags = "RepoTags", layers = "Layers", parent = "Parent"
        case layerSources = "LayerSources"
    }

    init(config: String, repoTags: [String]?, layers: [String]) {
        self.config = config
        self.repoTags = repoTags
        self.layers = layers
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        config = try c.decode(String.self, forKey: .config)
        repoTags = try c.decodeIfPresent([String].self, forKey: .repoTags)
        layers = try c.decodeIfPresent([String].self, forKey: .layers) ?? []
        parent = try c.decodeIfPresent(String.self, forKey: .parent)
        layerSources = try c.decodeIfPresent([String: Descriptor].self, forKey: .layerSources)
    }

    /// Writes `RepoTags` as `null` when absent, as Go's encoder does for docker's nil slice.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        if let repoTags { try c.encode(repoTags, forKey: .repoTags) } else { try c.encodeNil(forKey: .repoTags) }
        try c.encode(layers, forKey: .layers)
        try c.encodeIfPresent(parent, forKey: .parent)
        try c.encodeIfPresent(layerSources, forKey: .layerSources)
    }
}

/// `oci-archive:FILE[:REF]`: an OCI image layout in a tar (FILE `-` is stdin or stdout). Read by the
/// docker-archive reader, which takes an archive with no manifest.json through its index.json; written
/// by the docker-archive writer without manifest.json and repositories, OCI-typed.
public enum OCIArchiveFormat: LocationFormat {
    public static let prefix = "oci-archive"

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        try DockerArchiveFormat.source(path: path, reference: reference, context: context)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        try DockerArchiveDestination(path: path, compression: context.compression, form: .oci(reference: reference),
                                     temporaryDirectory: context.temporaryDirectory, name: "\(prefix):\(path)")
    }
}
