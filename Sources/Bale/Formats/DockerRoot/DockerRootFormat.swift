import BaleCore
import Foundation

// A Docker engine's data root (`/var/lib/docker`, or a copy of one), read without the engine: the
// images of a host whose daemon is stopped, broken, or on a disk mounted from a dead machine.
//
// ```
// DIR/image/<driver>/repositories.json          {"Repositories":{repo:{"name:tag": "sha256:<image id>"}}}
// DIR/image/<driver>/imagedb/content/sha256/<id> the config; its SHA-256 is the image ID
// DIR/image/<driver>/layerdb/sha256/<chain id>/  one per layer, by chain ID, computed from the config's
//     diff                                        DiffIDs: chain(1) = diffID(1),
//     cache-id                                    chain(n) = sha256(chain(n-1) + " " + diffID(n));
//     tar-split.json.gz                           `diff` is the layer's DiffID, `cache-id` its directory
//                                                 under the driver, tar-split the tar's raw headers and
//                                                 padding (JSON lines, gzip), with each file's name,
//                                                 size and CRC-64
// DIR/vfs/dir/<cache-id>/                         the layer's files (vfs: the whole tree)
// DIR/overlay2/<cache-id>/diff/                   the layer's files (overlay2: only what it changed)
// ```
//
// Each layer's tar is rebuilt byte for byte as `docker save` rebuilds it: the tar-split's raw segments,
// with each regular file's bytes read from the driver's directory by the name its header gives. The
// stream is the layer blob, whose digest is the DiffID, so the copier's digest check is the DiffID check; each file's CRC-64 and size are checked,
// so a file changed after the fact is named. Layers are uncompressed tars and the manifest is
// synthesised as for a legacy `docker save` archive (OCI types, the config's bytes), so the digests
// equal those of `docker save | bale load`.
//
// Read-only: files are opened O_RDONLY, nothing is locked or created under DIR, and a file that
// appears or vanishes while an engine runs fails only the image that needs it.

/// `docker-root:DIR[:NAME[:TAG]|:ID]`: a Docker data root, read-only.
public enum DockerRootFormat: LocationFormat {
    public static let prefix = "docker-root"
    public static var referenceIsName: Bool { true }

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        try DockerRootSource(root: path, reference: reference)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        throw BaleError(.usage, "\(prefix):\(path): docker-root: is read-only; use docker-daemon: or docker load")
    }
}
