import BaleCore
import Foundation

/// A whole copy between two opened locations: staging a streaming source, renaming when the
/// destination location names the image, copying, and cleaning up on every path.
public enum Transfer {
    /// Copies every image `source` holds (or selects) to `destination`. With `rename`, the source must
    /// hold exactly one image, which gets that name only. The source is closed and the destination
    /// committed or aborted, whatever happens.
    public static func run(from source: any ImageSource, to destination: any ImageDestination,
                           rename: Reference? = nil, names: ((SourceImage) -> [Reference])? = nil,
                           options: CopyOptions, temporaryDirectory: String = NSTemporaryDirectory()) throws -> CopyReport {
        defer { source.close() }
        let staging: TemporaryBlobSink?
        var images: [SourceImage]
        do {
            staging = try Copier.stage(source, for: destination, temporaryDirectory: temporaryDirectory,
                                       progress: options.progress)
            images = try source.images()
            if let rename {
                guard images.count == 1 else {
                    throw BaleError(.usage, "\(source.name) holds \(images.count) images; a destination name fits only one (select one in the source location)")
                }
                images[0].names = [rename]
            }
            if let names { images = images.map { SourceImage(descriptor: $0.descriptor, names: names($0)) } }
        } catch {
            destination.abort()
            throw error
        }
        let report = try Copier(options: options).copy(from: source, to: destination, images: images)
        withExtendedLifetime(staging) {}
        return report
    }
}
