import Foundation

/// An image configuration (image-spec config.md with Docker's extensions, docker-image-spec spec.md).
/// Decoded for reading only: foreign configs are carried byte for byte (their digest is the image ID),
/// so this type is never re-encoded in place of bytes bale did not write.
///
/// ```
/// { "created", "author", "architecture", "os", "variant"?, "os.version"?,
///   "config": { User, Env, Entrypoint, Cmd, WorkingDir, Labels, ExposedPorts, Volumes, StopSignal, … },
///   "rootfs": { "type": "layers", "diff_ids": [bottom … top] },
///   "history": [ { created, created_by, author, comment, empty_layer }, … ] }
/// ```
public struct ImageConfig: Hashable, Sendable, Codable {
    public var created: String?
    public var author: String?
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var config: ContainerConfig?
    public var rootfs: RootFS
    public var history: [History]?
    public var comment: String?
    public var dockerVersion: String?

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os, variant, config, rootfs, history, comment
        case osVersion = "os.version"
        case dockerVersion = "docker_version"
    }

    public init(architecture: String, os: String, rootfs: RootFS) {
        self.architecture = architecture
        self.os = os
        self.rootfs = rootfs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        created = try c.decodeIfPresent(String.self, forKey: .created)
        author = try c.decodeIfPresent(String.self, forKey: .author)
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture) ?? ""
        os = try c.decodeIfPresent(String.self, forKey: .os) ?? ""
        variant = try c.decodeIfPresent(String.self, forKey: .variant)
        osVersion = try c.decodeIfPresent(String.self, forKey: .osVersion)
        config = try c.decodeIfPresent(ContainerConfig.self, forKey: .config)
        rootfs = try c.decode(RootFS.self, forKey: .rootfs)
        history = try c.decodeIfPresent([History].self, forKey: .history)
        comment = try c.decodeIfPresent(String.self, forKey: .comment)
        dockerVersion = try c.decodeIfPresent(String.self, forKey: .dockerVersion)
    }

    /// The config's platform.
    public var platform: Platform {
        var p = Platform(os: os, architecture: architecture, variant: variant)
        p.osVersion = osVersion
        return p
    }

    /// `created` as a date; a missing or unparsable time counts as the Unix epoch, as docker does.
    public var createdDate: Date { created.flatMap(RFC3339.parse) ?? Date(timeIntervalSince1970: 0) }

    /// `rootfs`: the layer DiffIDs, bottom first.
    public struct RootFS: Hashable, Sendable, Codable {
        public var type: String
        public var diffIDs: [Digest]
        enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
        public init(diffIDs: [Digest]) { self.type = "layers"; self.diffIDs = diffIDs }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decode(String.self, forKey: .type)
            guard type == "layers" else {
                throw DecodingError.dataCorruptedError(forKey: .type, in: c,
                                                       debugDescription: "rootfs.type \"\(type)\", expected \"layers\"")
            }
            diffIDs = try c.decodeIfPresent([Digest].self, forKey: .diffIDs) ?? []
        }
    }

    /// One `history` entry.
    public struct History: Hashable, Sendable, Codable {
        public var created: String?
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        public var emptyLayer: Bool?
        enum CodingKeys: String, CodingKey {
            case created, author, comment
            case createdBy = "created_by"
            case emptyLayer = "empty_layer"
        }
        public init(created: String? = nil, createdBy: String? = nil, author: String? = nil,
                    comment: String? = nil, emptyLayer: Bool? = nil) {
            self.created = created; self.createdBy = createdBy; self.author = author
            self.comment = comment; self.emptyLayer = emptyLayer
        }
    }
}

/// The `config` object of an image config: how to run the image. Fields docker's `--change` sets, plus
/// a few others, as Docker names them.
public struct ContainerConfig: Hashable, Sendable, Codable {
    public var user: String?
    public var exposedPorts: [String: EmptyObject]?
    public var env: [String]?
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var volumes: [String: EmptyObject]?
    public var workingDir: String?
    public var labels: [String: String]?
    public var stopSignal: String?
    public var onBuild: [String]?
    public var healthcheck: Healthcheck?
    public var argsEscaped: Bool?
    public var shell: [String]?

    enum CodingKeys: String, CodingKey {
        case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
        case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
        case onBuild = "OnBuild", healthcheck = "Healthcheck", argsEscaped = "ArgsEscaped", shell = "Shell"
    }

    public init() {}

    /// Docker's health check (durations in nanoseconds).
    public struct Healthcheck: Hashable, Sendable, Codable {
        public var test: [String]?
        public var interval: Int64?
        public var timeout: Int64?
        public var startPeriod: Int64?
        public var startInterval: Int64?
        public var retries: Int?
        enum CodingKeys: String, CodingKey {
            case test = "Test", interval = "Interval", timeout = "Timeout", startPeriod = "StartPeriod"
            case startInterval = "StartInterval", retries = "Retries"
        }
        public init() {}
    }
}

/// `{}` in JSON: the value type of `ExposedPorts` and `Volumes` maps.
public struct EmptyObject: Hashable, Sendable, Codable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: CodingKeysNone.self)
    }
    private enum CodingKeysNone: CodingKey {}
}
