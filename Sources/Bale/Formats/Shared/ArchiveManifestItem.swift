import BaleCore
import Foundation

/// One entry of `manifest.json` (moby's `manifestItem`; containers/image `ManifestItem`).
struct ArchiveManifestItem: Codable, Sendable, Equatable {
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
