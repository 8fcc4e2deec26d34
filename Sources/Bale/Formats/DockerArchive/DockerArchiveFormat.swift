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
    public static let referenceIsName = true

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        if path == "-" {
            return try ArchiveSource(fileDescriptor: 0, reference: reference, name: "\(prefix):-")
        }
        return try ArchiveSource(path: path, reference: reference)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        if let reference {
            // The name itself reaches the copier as the image's name (`Location.name`); only check it here.
            guard !reference.hasPrefix("@") else {
                throw BaleError(.usage, "\(prefix):\(path):\(reference): a position (@N) selects an image to read; name the image to write instead")
            }
            _ = try Reference(parsing: reference)
        }
        return try ArchiveDestination(path: path, compression: context.compression,
                                            temporaryDirectory: context.temporaryDirectory,
                                            splitSize: context.splitSize)
    }
}

