import BaleCore
import Foundation

// An OCI image layout in a tar (image-spec image-layout.md; FORMATS.md section 3):
//
// ```
// oci-layout            {"imageLayoutVersion":"1.0.0"}
// index.json            one entry per image; org.opencontainers.image.ref.name = REF
// blobs/sha256/<hex>    manifests, configs, layers
// ```
//
// Docker 25+'s `docker save` is this plus manifest.json, so one archive reader and one writer
// (Formats/Shared) serve both formats: the reader takes an archive with no manifest.json through its
// index.json, and the writer leaves manifest.json and repositories out and writes OCI media types.

/// `oci-archive:FILE[:REF]`: an OCI image layout in a tar (FILE `-` is stdin or stdout).
public enum OCIArchiveFormat: LocationFormat {
    public static let prefix = "oci-archive"

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        path == "-" ? try ArchiveSource(fileDescriptor: 0, reference: reference, name: "\(prefix):-")
                    : try ArchiveSource(path: path, reference: reference, name: "\(prefix):\(path)")
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        try ArchiveDestination(path: path, compression: context.compression, form: .oci(reference: reference),
                                     temporaryDirectory: context.temporaryDirectory, name: "\(prefix):\(path)",
                                     splitSize: context.splitSize)
    }
}
