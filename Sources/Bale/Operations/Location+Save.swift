import BaleCore
import Foundation

extension Location {
    /// `bale save LOCATION`: the images this location selects (`docker-daemon:app:1`, an OCI layout…)
    /// written into one archive at `path` (`-`: stdout), as `Store.save` writes the store's.
    public func save(to path: String, format: SaveFormat, compression: ArchiveCompression, splitSize: Int64? = nil,
                     context: LocationContext, options: CopyOptions) throws -> CopyReport {
        try Store.save(self.source(context), to: path, format: format, compression: compression,
                       splitSize: splitSize, options: options)
    }
}
