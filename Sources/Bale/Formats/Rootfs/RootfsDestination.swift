import BaleCore
import BaleIO
import Foundation

/// An image flattened into one rootfs (`export`; `copy … rootfs:PATH`): a tar or a directory.
///
/// A tar output goes to a temp file replaced into place at commit (or into a device, FIFO or a
/// symlink's target as is; see `OutputFile`); a directory is filled as the layers are read, and
/// emptied again when extraction fails. Members refused as unsafe are skipped, not fatal: they are
/// listed in `refused` for the caller to report.
public final class RootfsDestination: FlatteningDestination, @unchecked Sendable {
    // Sendable: used from the copier's thread only (no concurrent puts); fields guarded by `lock`.

    /// Where the rootfs goes.
    public enum Output: Sendable {
        /// A tar file.
        case tar(String)
        /// A tar written to an open file descriptor (standard output: 1), named `name` in messages.
        case stream(fileDescriptor: Int32, name: String)
        /// A directory, empty or absent.
        case directory(String)
    }

    private let output: Output
    private let lock = NSLock()
    private var file: OutputFile?
    private var _refused: [RefusedMember] = []
    private var _warnings: [String] = []
    public let name: String
    public let properties = DestinationProperties(acceptsDockerTypes: true, concurrentPuts: false)

    public init(output: Output) {
        self.output = output
        switch output {
        case .tar(let path): name = "rootfs:\(path)"
        case .stream(_, let stream): name = "rootfs:\(stream)"
        case .directory(let path): name = "rootfs:\(path)"
        }
    }

    /// Members refused as unsafe (each names its layer), after `flatten`.
    public var refused: [RefusedMember] { lock.withLock { _refused } }
    /// Warnings met (skipped device nodes, attributes that could not be set, …), after `flatten`.
    public var warnings: [String] { lock.withLock { _warnings } }

    public func flatten(layers: [(digest: Digest, path: String)], diffIDs: [Digest: Digest]) throws -> (refused: [RefusedMember], warnings: [String]) {
        switch output {
        case .directory(let directory):
            let extractor = try Extractor(target: directory)
            extractor.diffIDs = diffIDs
            let refused = try extractor.extract(layers)
            lock.withLock { _refused = refused; _warnings = extractor.warnings }
            return (refused, extractor.warnings)
        case .tar, .stream:
            var fd: Int32 = 1
            var tarName = "<stdout>"
            if case .stream(let descriptor, let stream) = output {
                fd = descriptor
                tarName = stream
            }
            if case .tar(let path) = output {
                let file = try OutputFile(path: path)
                lock.withLock { self.file = file }
                fd = file.fileDescriptor
                tarName = path
            }
            let tree = try FlatTree(layers: layers, diffIDs: diffIDs)
            let writer = try TarWriter(fileDescriptor: fd, name: tarName)
            var warnings: [String] = []
            try FlatTar.writeTar(tree, layers: layers, to: writer, warnings: &warnings)
            try writer.finish()
            lock.withLock { _refused = tree.refused; _warnings = warnings }
            return (tree.refused, warnings)
        }
    }

    // A flattening destination takes files, not blobs: the copier never calls these.
    public func contains(_ digest: Digest, size: Int64?) -> Bool { false }
    public func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        throw BaleError(.internal, "\(name): takes layers as files (flatten), not blobs")
    }
    public func addImage(_ image: SourceImage) throws {}

    public func commit() throws {
        try lock.withLock { file }?.commit()
    }

    public func abort() {
        lock.withLock { file }?.discard()
    }
}
