import BaleCore
import Foundation

// A running Docker engine, over the Engine API on its Unix socket (DockerEngine.swift):
//
// ```
// read     GET /images/get?names=…   the `docker save` tar, streamed through the docker-archive reader
// write    POST /images/load         a docker-archive (ArchiveDestination) streamed as the body
// list     GET /images/json          `bale images --source docker-daemon:`
// ```
//
// Needs the socket (`--docker-host unix:///PATH`, else `$DOCKER_HOST`, else /var/run/docker.sock) and
// permission to use it (root, or the docker group).

/// `docker-daemon:NAME[:TAG]|ID` (skopeo's spelling); as a source, `docker-daemon:` alone is every image
/// of the engine.
public enum DockerDaemonFormat: LocationFormat {
    public static let prefix = "docker-daemon"
    /// `NAME:TAG` holds a colon of its own: the whole text after the prefix is the reference.
    public static let hasPath = false
    public static let referenceIsName = true

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        let location = "\(prefix):\(reference ?? "")"
        if let reference, !isID(reference) { _ = try Reference(parsing: reference) }
        return DockerDaemonSource(engine: try DockerEngine(host: context.dockerHost, location: location),
                                  reference: reference)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        let location = "\(prefix):\(reference ?? "")"
        if let reference {
            // The name reaches the copier as the image's name (`Location.name`); only check it here.
            guard !isID(reference) else {
                throw BaleError(.usage, "\(location): an image ID selects an image to read; name the image to write instead")
            }
            _ = try Reference(parsing: reference)
        }
        let engine = try DockerEngine(host: context.dockerHost, location: location)
        return try ArchiveDestination(sink: EngineUpload(engine: engine),
                                      temporaryDirectory: context.temporaryDirectory, name: location)
    }

    public static func list(path: String, reference: String?, context: LocationContext) throws -> [ListedImage] {
        let engine = try DockerEngine(host: context.dockerHost, location: "\(prefix):\(reference ?? "")")
        return try engine.images().compactMap { image in
            guard let id = try? Digest(parsing: image.Id) else { return nil }
            let names = (image.RepoTags ?? []).compactMap { try? Reference(parsing: $0).withDefaultTag() }
            return ListedImage(id: id, names: names, created: Date(timeIntervalSince1970: TimeInterval(image.Created)),
                               size: image.Size)
        }
    }

    /// Whether a reference is an image ID (`sha256:HEX`, or 12 to 64 hex digits) rather than a name.
    static func isID(_ reference: String) -> Bool {
        let hex = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
        return reference.hasPrefix("sha256:") || (hex.count >= 12 && hex.count <= 64 && Digest.isLowerHex(hex, length: hex.count))
    }
}
