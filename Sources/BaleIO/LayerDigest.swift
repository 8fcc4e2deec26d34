import BaleCore
import Foundation

/// The DiffID of a layer blob: SHA-256 of its uncompressed bytes, whatever compression it has
/// (detected from the bytes, never from the media type label).
public enum LayerDigest {
    /// Streams the file through `DecompressingSource` and hashes the output.
    public static func diffID(ofFile path: String) throws -> BaleCore.Digest {
        try unpacked(file: path).diffID
    }

    /// The DiffID and the uncompressed size of the layer in the file at `path`, in one pass.
    public static func unpacked(file path: String) throws -> (diffID: BaleCore.Digest, size: Int64) {
        let fd = try RegularFile.open(path)
        defer { close(fd) }
        return try unpacked(source: FileDescriptorSource(fileDescriptor: fd, name: path), name: path)
    }

    /// The same, of the layer bytes `input` gives (`name` for messages).
    public static func unpacked(source input: any ByteSource, name: String) throws -> (diffID: BaleCore.Digest, size: Int64) {
        let source = try DecompressingSource(source: input, name: name)
        var hasher = SHA256Hasher()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try source.read(into: buffer)
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            size += Int64(n)
        }
        return (hasher.finalize(), size)
    }
}
