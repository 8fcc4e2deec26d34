import BaleCore
import Foundation

extension Location {
    /// `bale save LOCATION`: the images this location selects (`docker-daemon:app:1`, an OCI layout…)
    /// written into one archive at `path` (`-`: stdout), as `Store.save` writes the store's.
    public func save(to path: String, format: SaveFormat, compression: ArchiveCompression, splitSize: Int64? = nil,
                     context: LocationContext, options: CopyOptions) throws -> CopyReport {
        let source = try self.source(context)
        let destination: ArchiveDestination
        do {
            destination = try ArchiveDestination(path: path, compression: compression,
                                                 form: format == .oci ? .oci(reference: nil) : .docker,
                                                 temporaryDirectory: options.temporaryDirectory,
                                                 name: "\(format == .oci ? "oci-archive" : "docker-archive"):\(path)",
                                                 splitSize: splitSize)
        } catch {
            source.close()
            throw error
        }
        return try Copier(options: options).copy(from: source, to: destination)
    }
}
