import BaleCore
import BaleIO
import Foundation

/// `registry-tree:DIR[:NAME[:TAG|@DIGEST]]`: the file-system storage of the Distribution registry
/// (FORMATS.md section 4; distribution v2.8 registry/storage/paths.go). DIR is the storage root, the
/// folder that holds `docker/registry/v2`:
///
/// ```
/// docker/registry/v2/blobs/sha256/<hh>/<hex>/data                     blob bytes (hh: first 2 hex)
/// docker/registry/v2/repositories/<name…>/
///   _layers/sha256/<hex>/link                       every layer and config served from /blobs/
///   _manifests/revisions/sha256/<hex>/link          every manifest and index, index children too
///   _manifests/tags/<tag>/index/sha256/<hex>/link   every digest the tag has had
///   _manifests/tags/<tag>/current/link              the tag's digest now
/// ```
///
/// A link file holds exactly `sha256:<hex>`, no newline (blobstore.go `link`).
///
/// NAME is the repository path exactly as the registry stores it (`library/alpine`, `team/app`): a
/// tree has no host of its own, so nothing is added or taken away. Reading, the images are named as
/// `docker pull REPOSITORY:TAG` would name them without a host (`library/alpine:3` is `alpine:3`,
/// `app:1` is `app:1`); writing without NAME, an image goes to the repository of its name's path
/// (see `RegistryTreeDestination`).
public enum RegistryTreeFormat: LocationFormat {
    public static let prefix = "registry-tree"
    public static let referenceIsName = true
    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        try RegistryTreeSource(root: path, reference: reference)
    }
    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        try RegistryTreeDestination(root: path, reference: reference)
    }
}

/// The paths of a registry storage tree and its link files, shared by the source and the destination.
struct RegistryTree: Sendable {
    /// The storage root as given (DIR).
    let root: String
    /// `DIR/docker/registry/v2`.
    let base: String

    init(root: String) {
        self.root = root
        base = root + "/docker/registry/v2"
    }

    var repositoriesPath: String { base + "/repositories" }
    func blobDirectory(_ d: Digest) -> String { "\(base)/blobs/\(d.algorithm.rawValue)/\(d.encoded.prefix(2))/\(d.encoded)" }
    func blobData(_ d: Digest) -> String { blobDirectory(d) + "/data" }
    func repository(_ repo: String) -> String { "\(repositoriesPath)/\(repo)" }
    func layerLink(_ repo: String, _ d: Digest) -> String {
        "\(repository(repo))/_layers/\(d.algorithm.rawValue)/\(d.encoded)/link"
    }
    func revisionLink(_ repo: String, _ d: Digest) -> String {
        "\(repository(repo))/_manifests/revisions/\(d.algorithm.rawValue)/\(d.encoded)/link"
    }
    func tagsPath(_ repo: String) -> String { repository(repo) + "/_manifests/tags" }
    func tagPath(_ repo: String, _ tag: String) -> String { tagsPath(repo) + "/" + tag }
    func tagIndexLink(_ repo: String, _ tag: String, _ d: Digest) -> String { Self.indexLink(inTag: tagPath(repo, tag), d) }
    func tagCurrentLink(_ repo: String, _ tag: String) -> String { Self.currentLink(inTag: tagPath(repo, tag)) }
    /// The links inside a tag's folder (`tags/<tag>`, or a new tag's folder before it is moved there).
    static func indexLink(inTag folder: String, _ d: Digest) -> String { "\(folder)/index/\(d.algorithm.rawValue)/\(d.encoded)/link" }
    static func currentLink(inTag folder: String) -> String { folder + "/current/link" }

    /// A link file's exact bytes: the digest, no newline.
    static func linkContent(_ d: Digest) -> Data { Data(d.string.utf8) }

    /// The digest a link file holds, nil when there is no file; a file that is not exactly a digest is
    /// refused, as the registry's strict `readlink` refuses it. `what` starts the message.
    static func readLink(_ path: String, what: String) throws -> Digest? {
        guard access(path, F_OK) == 0 else { return nil }
        let data: Data
        do {
            data = try RegularFile.read(path, limit: 256)
        } catch let error as BaleError {
            throw BaleError(error.code, "\(what): \(error.message)")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard data.count <= 128, let digest = try? Digest(parsing: text) else {
            throw BaleError(.invalidInput, "\(what): malformed link file \(path): \(String(text.prefix(80)).debugDescription)")
        }
        return digest
    }

    /// NAME[:TAG|@DIGEST] of the location, read with the reference grammar but without docker's
    /// normalisation: the repository is the path exactly as written (a placeholder host in front makes
    /// the grammar take the whole name as the path).
    static func parse(_ reference: String, location: String) throws -> (repository: String, tag: String?, digest: Digest?) {
        let ref: Reference
        do {
            ref = try Reference(parsing: "registry.invalid/" + reference)
        } catch let error as BaleError {
            let reason = error.message.replacingOccurrences(of: "registry.invalid/", with: "")
            throw BaleError(.invalidReference, "\(location): \(reason)")
        }
        guard ref.domain == "registry.invalid" else {
            throw BaleError(.invalidReference, "\(location): \"\(reference)\" is not REPOSITORY[:TAG|@DIGEST]")
        }
        return (ref.path, ref.tag, ref.digest)
    }
}
