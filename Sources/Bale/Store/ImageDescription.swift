import BaleCore
import Foundation

/// What `docker image inspect` shows for an image, as typed values with docker's keys, computed from a
/// stored image. The CLI prints it (`orderedKeys` gives docker's member order, which `Codable` cannot keep)
/// or runs a `--format` template over it.
///
/// Docker 20.10's object, with what bale cannot know left as docker leaves it for an imported image:
///
/// ```
/// Id RepoTags RepoDigests Parent Comment Created Container ContainerConfig DockerVersion Author Config
/// Architecture [Variant] Os [OsVersion] Size VirtualSize RootFS          (docker's, in its order)
/// Descriptor Manifest                                                     (bale's: where the image is)
/// ```
///
/// `Size` is what docker's `images` and `inspect` call size but measured as bale stores it: the bytes of
/// the image's blobs in the store (compressed layers). `VirtualSize` is the unpacked size, the sum of the
/// layers' uncompressed sizes, which is what docker shows under both names. GraphDriver and Metadata
/// (docker's storage driver and tag time) have no meaning without a daemon and are left out.
public struct ImageDescription: Codable, Sendable, Equatable {
    /// `Id`: the image ID, the config digest (`sha256:…`).
    public var id: String
    /// `RepoTags`: the image's names, familiar form (`app:1`).
    public var repoTags: [String]
    /// `RepoDigests`: `NAME@DIGEST` for each repository the image is named in.
    public var repoDigests: [String]
    /// `Parent`: always empty (bale keeps no parent images).
    public var parent: String
    /// `Comment`: the config's comment (`commit -m`, or import's `Imported from -`).
    public var comment: String
    /// `Created`: the config's creation time as written there.
    public var created: String
    /// `Container`: the config's `container`, empty for images not built by a daemon.
    public var container: String
    /// `ContainerConfig`: the config's `container_config`, or docker's empty one.
    public var containerConfig: DockerContainerConfig
    /// `DockerVersion`: the config's `docker_version`.
    public var dockerVersion: String
    /// `Author`: the config's author.
    public var author: String
    /// `Config`: the config's `config` (null when it has none).
    public var config: DockerContainerConfig?
    /// `Architecture`, `Variant` (only when set), `Os`, `OsVersion` (only when set): the platform.
    public var architecture: String
    public var variant: String?
    public var os: String
    public var osVersion: String?
    /// `Size`: the bytes of the image's blobs in the store (compressed layers).
    public var size: Int64
    /// `VirtualSize`: the unpacked size, the sum of the layers' uncompressed sizes.
    public var virtualSize: Int64
    /// `RootFS`: the layers' DiffIDs.
    public var rootFS: RootFS
    /// bale's `Descriptor`: the image's top document in the store (a manifest or an index).
    public var descriptor: DescriptorSummary
    /// bale's `Manifest`: the platform manifest (the descriptor itself unless that is an index).
    public var manifest: DescriptorSummary
    /// bale's `Referrers`: what refers to the image (OCI 1.1 referrers, cosign attachments); nil (left
    /// out) when nothing does.
    public var referrers: [ReferrerSummary]?

    /// One of `Referrers`: the referrer's manifest, its artifact type, annotations and cosign tag.
    public struct ReferrerSummary: Codable, Sendable, Equatable {
        public var mediaType: String
        public var artifactType: String?
        public var digest: String
        public var size: Int64
        public var tag: String?
        public var annotations: [String: String]?
        public enum CodingKeys: String, CodingKey, CaseIterable { case mediaType, artifactType, digest, size, tag, annotations }
        public init(_ r: Referrer) {
            mediaType = r.descriptor.mediaType.rawValue
            artifactType = r.descriptor.artifactType
            digest = r.descriptor.digest.string
            size = r.descriptor.size
            tag = r.tag
            annotations = r.descriptor.annotations
        }
    }

    /// Docker's member order (Go's encoding/json writes a struct's fields in declaration order).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case id = "Id", repoTags = "RepoTags", repoDigests = "RepoDigests", parent = "Parent"
        case comment = "Comment", created = "Created", container = "Container"
        case containerConfig = "ContainerConfig", dockerVersion = "DockerVersion", author = "Author"
        case config = "Config", architecture = "Architecture", variant = "Variant", os = "Os"
        case osVersion = "OsVersion", size = "Size", virtualSize = "VirtualSize", rootFS = "RootFS"
        case descriptor = "Descriptor", manifest = "Manifest", referrers = "Referrers"
    }

    /// `RootFS`: `{"Type": "layers", "Layers": [diffIDs]}`.
    public struct RootFS: Codable, Sendable, Equatable {
        /// Always `layers`.
        public var type: String
        /// The DiffIDs, bottom layer first.
        public var layers: [String]
        public enum CodingKeys: String, CodingKey, CaseIterable { case type = "Type", layers = "Layers" }
    }

    /// bale's `Descriptor` and `Manifest` members: a descriptor's media type, digest and size.
    public struct DescriptorSummary: Codable, Sendable, Equatable {
        /// The descriptor's media type, digest and size.
        public var mediaType: String
        public var digest: String
        public var size: Int64
        public enum CodingKeys: String, CodingKey, CaseIterable { case mediaType, digest, size }
        init(_ d: Descriptor) { self.init(mediaType: d.mediaType.rawValue, digest: d.digest.string, size: d.size) }
        init(mediaType: String, digest: String, size: Int64) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
        }
    }

    /// How docker's templates print members that the image leaves out (null or absent here), as the
    /// zero values of its Go types: `{{.Config.Cmd}}` is `[]`, `{{.Config.Labels}}` `map[]`,
    /// `{{.Config.Healthcheck}}` `<nil>`, `{{.Config.ArgsEscaped}}` `false`.
    public static let goZeroes: [String: String] = [
        "Cmd": "[]", "Entrypoint": "[]", "Env": "[]", "OnBuild": "[]", "Shell": "[]",
        "RepoTags": "[]", "RepoDigests": "[]", "Layers": "[]",
        "Labels": "map[]", "Volumes": "map[]", "ExposedPorts": "map[]",
        "Healthcheck": "<nil>", "StopSignal": "", "ArgsEscaped": "false",
    ]

    /// The members docker's Go types hold as sets (`map[string]struct{}`): their members print as `{}`.
    public static let goSets: Set<String> = ["ExposedPorts", "Volumes"]

    /// Every object's member order, by the object's key in its parent (nested objects not named here,
    /// such as `Labels`, are maps, which Go writes with sorted keys).
    public static let memberOrder: [String: [String]] = [
        "": CodingKeys.allCases.map(\.rawValue),
        "ContainerConfig": DockerContainerConfig.CodingKeys.allCases.map(\.rawValue),
        "Config": DockerContainerConfig.CodingKeys.allCases.map(\.rawValue),
        "RootFS": RootFS.CodingKeys.allCases.map(\.rawValue),
        "Descriptor": DescriptorSummary.CodingKeys.allCases.map(\.rawValue),
        "Manifest": DescriptorSummary.CodingKeys.allCases.map(\.rawValue),
        "Referrers": ReferrerSummary.CodingKeys.allCases.map(\.rawValue),
    ]

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(repoTags, forKey: .repoTags)
        try c.encode(repoDigests, forKey: .repoDigests)
        try c.encode(parent, forKey: .parent)
        try c.encode(comment, forKey: .comment)
        try c.encode(created, forKey: .created)
        try c.encode(container, forKey: .container)
        try c.encode(containerConfig, forKey: .containerConfig)
        try c.encode(dockerVersion, forKey: .dockerVersion)
        try c.encode(author, forKey: .author)
        try c.encode(config, forKey: .config)     // null when the image has none, as docker writes it
        try c.encode(architecture, forKey: .architecture)
        try c.encodeIfPresent(variant, forKey: .variant)
        try c.encode(os, forKey: .os)
        try c.encodeIfPresent(osVersion, forKey: .osVersion)
        try c.encode(size, forKey: .size)
        try c.encode(virtualSize, forKey: .virtualSize)
        try c.encode(rootFS, forKey: .rootFS)
        try c.encode(descriptor, forKey: .descriptor)
        try c.encode(manifest, forKey: .manifest)
        try c.encodeIfPresent(referrers, forKey: .referrers)
    }
}

/// Docker's `container.Config` as `inspect` prints it under `Config` and `ContainerConfig`: every field
/// docker always writes (empty strings, `false`, `null`), and the `omitempty` ones only when set. Read
/// from an image config's `config` (or `container_config`) object; OCI configs carry only a subset.
/// Each property is the docker key of the same name (`hostname` is `Hostname`), with docker's meaning
/// (moby's api/types/container/config.go); what docker writes as `null` or omits is `nil` here.
public struct DockerContainerConfig: Codable, Sendable, Equatable {
    public var hostname = ""
    public var domainname = ""
    public var user = ""
    public var attachStdin = false
    public var attachStdout = false
    public var attachStderr = false
    public var exposedPorts: [String: JSONValue]?
    public var tty = false
    public var openStdin = false
    public var stdinOnce = false
    public var env: [String]?
    public var cmd: [String]?
    public var healthcheck: JSONValue?
    public var argsEscaped: Bool?
    public var image = ""
    public var volumes: [String: JSONValue]?
    public var workingDir = ""
    public var entrypoint: [String]?
    public var networkDisabled: Bool?
    public var macAddress: String?
    public var onBuild: [String]?
    public var labels: [String: String]?
    public var stopSignal: String?
    public var stopTimeout: Int?
    public var shell: [String]?

    /// The empty config docker shows for an image without one (an import's `ContainerConfig`).
    public init() {}

    /// Docker's member order.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case hostname = "Hostname", domainname = "Domainname", user = "User", attachStdin = "AttachStdin"
        case attachStdout = "AttachStdout", attachStderr = "AttachStderr", exposedPorts = "ExposedPorts"
        case tty = "Tty", openStdin = "OpenStdin", stdinOnce = "StdinOnce", env = "Env", cmd = "Cmd"
        case healthcheck = "Healthcheck", argsEscaped = "ArgsEscaped", image = "Image", volumes = "Volumes"
        case workingDir = "WorkingDir", entrypoint = "Entrypoint", networkDisabled = "NetworkDisabled"
        case macAddress = "MacAddress", onBuild = "OnBuild", labels = "Labels", stopSignal = "StopSignal"
        case stopTimeout = "StopTimeout", shell = "Shell"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hostname = try c.decodeIfPresent(String.self, forKey: .hostname) ?? ""
        domainname = try c.decodeIfPresent(String.self, forKey: .domainname) ?? ""
        user = try c.decodeIfPresent(String.self, forKey: .user) ?? ""
        attachStdin = try c.decodeIfPresent(Bool.self, forKey: .attachStdin) ?? false
        attachStdout = try c.decodeIfPresent(Bool.self, forKey: .attachStdout) ?? false
        attachStderr = try c.decodeIfPresent(Bool.self, forKey: .attachStderr) ?? false
        exposedPorts = try c.decodeIfPresent([String: JSONValue].self, forKey: .exposedPorts)
        tty = try c.decodeIfPresent(Bool.self, forKey: .tty) ?? false
        openStdin = try c.decodeIfPresent(Bool.self, forKey: .openStdin) ?? false
        stdinOnce = try c.decodeIfPresent(Bool.self, forKey: .stdinOnce) ?? false
        env = try c.decodeIfPresent([String].self, forKey: .env)
        cmd = try c.decodeIfPresent([String].self, forKey: .cmd)
        healthcheck = try c.decodeIfPresent(JSONValue.self, forKey: .healthcheck)
        argsEscaped = try c.decodeIfPresent(Bool.self, forKey: .argsEscaped)
        image = try c.decodeIfPresent(String.self, forKey: .image) ?? ""
        volumes = try c.decodeIfPresent([String: JSONValue].self, forKey: .volumes)
        workingDir = try c.decodeIfPresent(String.self, forKey: .workingDir) ?? ""
        entrypoint = try c.decodeIfPresent([String].self, forKey: .entrypoint)
        networkDisabled = try c.decodeIfPresent(Bool.self, forKey: .networkDisabled)
        macAddress = try c.decodeIfPresent(String.self, forKey: .macAddress)
        onBuild = try c.decodeIfPresent([String].self, forKey: .onBuild)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels)
        stopSignal = try c.decodeIfPresent(String.self, forKey: .stopSignal)
        stopTimeout = try c.decodeIfPresent(Int.self, forKey: .stopTimeout)
        shell = try c.decodeIfPresent([String].self, forKey: .shell)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hostname, forKey: .hostname)
        try c.encode(domainname, forKey: .domainname)
        try c.encode(user, forKey: .user)
        try c.encode(attachStdin, forKey: .attachStdin)
        try c.encode(attachStdout, forKey: .attachStdout)
        try c.encode(attachStderr, forKey: .attachStderr)
        try c.encodeIfPresent(exposedPorts, forKey: .exposedPorts)
        try c.encode(tty, forKey: .tty)
        try c.encode(openStdin, forKey: .openStdin)
        try c.encode(stdinOnce, forKey: .stdinOnce)
        try c.encode(env, forKey: .env)
        try c.encode(cmd, forKey: .cmd)
        try c.encodeIfPresent(healthcheck, forKey: .healthcheck)
        try c.encodeIfPresent(argsEscaped, forKey: .argsEscaped)
        try c.encode(image, forKey: .image)
        try c.encode(volumes, forKey: .volumes)
        try c.encode(workingDir, forKey: .workingDir)
        try c.encode(entrypoint, forKey: .entrypoint)
        try c.encodeIfPresent(networkDisabled, forKey: .networkDisabled)
        try c.encodeIfPresent(macAddress, forKey: .macAddress)
        try c.encode(onBuild, forKey: .onBuild)
        try c.encode(labels, forKey: .labels)
        try c.encodeIfPresent(stopSignal, forKey: .stopSignal)
        try c.encodeIfPresent(stopTimeout, forKey: .stopTimeout)
        try c.encodeIfPresent(shell, forKey: .shell)
    }
}

/// One row of `history`: a config history entry, paired with the layer it made.
public struct HistoryEntry: Sendable, Equatable {
    /// The entry's `created` text (RFC 3339), when it has one.
    public var created: String?
    /// The entry's `created_by` and `comment`.
    public var createdBy: String?
    public var comment: String?
    /// The stored (compressed) size of the entry's layer; 0 for an entry that made none.
    public var size: Int64
}

extension StoredImage {
    /// History newest first, as docker lists it: each entry that is not `empty_layer` is paired with the
    /// next layer in order. Without a history, one entry per layer, dated as the image.
    public var history: [HistoryEntry] {
        let layers = manifest.value.layers
        guard let history = config.value.history, !history.isEmpty else {
            return layers.reversed().map { HistoryEntry(created: config.value.created, size: $0.size) }
        }
        var next = 0
        var entries: [HistoryEntry] = []
        for h in history {
            var size: Int64 = 0
            if h.emptyLayer != true, next < layers.count {
                size = layers[next].size
                next += 1
            }
            entries.append(HistoryEntry(created: h.created, createdBy: h.createdBy, comment: h.comment, size: size))
        }
        return entries.reversed()
    }

    /// The inspect object. `unpackedSize` is the sum of the layers' uncompressed sizes (`VirtualSize`),
    /// which only the store can tell (`Store.describe` passes it).
    public func inspection(unpackedSize: Int64) throws -> ImageDescription {
        // The members of the config that `ImageConfig` does not model, read from its own bytes.
        struct Extra: Decodable {
            var container: String?
            var config: DockerContainerConfig?
            var containerConfig: DockerContainerConfig?
            enum CodingKeys: String, CodingKey { case container, config, containerConfig = "container_config" }
        }
        let extra = try JSON.decode(Extra.self, from: config.bytes, what: "config \(id)")
        let value = config.value
        return ImageDescription(
            id: id.string,
            repoTags: names.filter { $0.tag != nil }.map(\.familiar),
            repoDigests: Array(Set(names.map { "\($0.familiarName)@\(descriptor.digest)" })).sorted(),
            parent: "", comment: value.comment ?? "", created: value.created ?? "",
            container: extra.container ?? "", containerConfig: extra.containerConfig ?? DockerContainerConfig(),
            dockerVersion: value.dockerVersion ?? "", author: value.author ?? "", config: extra.config,
            architecture: value.architecture, variant: value.variant, os: value.os, osVersion: value.osVersion,
            size: size, virtualSize: unpackedSize,
            rootFS: .init(type: value.rootfs.type, layers: value.rootfs.diffIDs.map(\.string)),
            descriptor: .init(descriptor), manifest: .init(manifestDescriptor))
    }
}

extension Store {
    /// `inspect`'s object for a stored image, its unpacked size included.
    public func describe(_ image: StoredImage) throws -> ImageDescription {
        var description = try image.inspection(unpackedSize: unpackedSize(of: image))
        let found = try referrers(of: [image.descriptor.digest, image.manifestDescriptor.digest])
        description.referrers = found.isEmpty ? nil : found.map(ImageDescription.ReferrerSummary.init)
        return description
    }
}
