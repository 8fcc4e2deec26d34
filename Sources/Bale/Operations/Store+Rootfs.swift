import BaleCore
import BaleIO
import Foundation

// `import`, `commit` and `export` as the copies they are: rootfs → store, store + layer → store, and
// store → rootfs, through the one copy engine and the store's own destination.

extension Store {
    /// `bale import`: a rootfs (tar file, stdin or directory) → a one-layer OCI image in this store
    /// (`copy rootfs:INPUT NAME`).
    public func importRootfs(_ input: LayerInput, options: RootfsImageOptions) throws -> RootfsImageResult {
        let source = try RootfsSource(input: input, options: options)
        try copyIn(from: source, jobs: options.compression.jobs)
        guard let result = source.result else { throw BaleError(.internal, "import made no image") }
        recordUnpackedSize(result.layer.uncompressedSize, of: result.layer.digest)
        return result
    }

    /// `bale commit`: the image `base` (name, ID or ID prefix) plus one layer, a tar as given or the
    /// changes between a directory and the base's flattened tree.
    public func commitRootfs(base: String, input: LayerInput, options: RootfsImageOptions) throws -> RootfsImageResult {
        let source = try RootfsSource(input: input, base: StoreSource(store: self, selecting: [base]), options: options)
        try copyIn(from: source, jobs: options.compression.jobs)
        guard let result = source.result else { throw BaleError(.internal, "commit made no image") }
        recordUnpackedSize(result.layer.uncompressedSize, of: result.layer.digest)
        return result
    }

    /// `bale export`: the image's layers flattened, as a tar on `fileDescriptor` or extracted into a
    /// directory (`copy NAME rootfs:OUTPUT`). Returns the refused members and the warnings.
    public func exportRootfs(_ imageName: String, toTar fileDescriptor: Int32? = nil, tarName: String = "<stdout>",
                             toDirectory directory: String? = nil) throws -> (refused: [RefusedMember], warnings: [String]) {
        try exportRootfs(imageName, to: directory.map { .directory($0) }
                            ?? .stream(fileDescriptor: fileDescriptor ?? 1, name: tarName))
    }

    /// `bale export` to any rootfs output.
    public func exportRootfs(_ imageName: String, to output: RootfsDestination.Output) throws -> (refused: [RefusedMember], warnings: [String]) {
        // The store source holds the shared lock throughout, so no `rmi` collects a layer while it is read.
        let source = try StoreSource(store: self, selecting: [imageName])
        let destination = RootfsDestination(output: output)
        _ = try Copier().copy(from: source, to: destination)
        return (destination.refused, destination.warnings)
    }

    private func copyIn(from source: any ImageSource, jobs: Int) throws {
        let destination: StoreDestination
        do { destination = try StoreDestination(store: self) } catch { source.close(); throw error }
        _ = try Copier(options: CopyOptions(jobs: jobs)).copy(from: source, to: destination)
    }
}
