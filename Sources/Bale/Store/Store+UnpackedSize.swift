import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Layers' uncompressed sizes, which docker shows as an image's size (`VirtualSize`) and an OCI layout
/// does not record: a layer descriptor gives only the compressed size. Kept beside the layout, so the
/// store stays a plain OCI layout that skopeo and umoci read (a layout may hold other files):
///
/// ```
/// ROOT/unpacked/sha256/<hex>    the decimal byte count of blob <hex> uncompressed, e.g. "4194304"
/// ```
///
/// `import` and `commit` record the size as they compress the layer (it is known then, free). A layer
/// that came in compressed (load, copy) is decompressed once, the first time its size is asked for, and
/// the count recorded; a lost or damaged record is simply computed again. Garbage collection removes the
/// record with its blob.
extension Store {
    func unpackedSizePath(_ digest: Digest) -> String {
        "\(root)/unpacked/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    /// Records a layer's uncompressed size (a cache: a failure to write it is not an error).
    func recordUnpackedSize(_ size: Int64, of digest: Digest) {
        let path = unpackedSizePath(digest)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        // Not fsynced: a record lost in a crash is counted again; one torn is not a number and is too.
        try? BlobFile.replace(path, with: Data(String(size).utf8), temporaryDirectory: ingestDir, durable: false)
    }

    /// The image's unpacked size: the sum of its layers' uncompressed sizes (docker's `VirtualSize`).
    public func unpackedSize(of image: StoredImage) throws -> Int64 {
        try image.manifest.value.layers.reduce(Int64(0)) { $0 + (try unpackedSize(ofLayer: $1)) }
    }

    /// One layer's uncompressed size: the record, else counted by decompressing the blob and recorded.
    func unpackedSize(ofLayer layer: Descriptor) throws -> Int64 {
        if let bytes = try? RegularFile.read(unpackedSizePath(layer.digest), limit: 32),
           let size = Int64(String(decoding: bytes, as: UTF8.self)), size >= 0 {
            return size
        }
        let path = blobPath(layer.digest)
        let fd: Int32
        do { fd = try RegularFile.open(path) } catch let error as BaleError {
            throw BaleError(error.code, "layer \(layer.digest): \(error.message)")
        }
        defer { close(fd) }
        let source = try DecompressingSource(source: FileDescriptorSource(fileDescriptor: fd, name: path),
                                             name: "layer \(layer.digest)")
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while case let n = try source.read(into: buffer), n > 0 { size += Int64(n) }
        recordUnpackedSize(size, of: layer.digest)
        return size
    }
}
