import BaleCore
import CZlib
import Foundation

// Streaming gzip decompression with zlib's inflate (windowBits 16 + 15: gzip wrapper, 32 KiB window).
//
//   member 1: header | deflate | CRC-32 | ISIZE     zlib checks the CRC-32 and ISIZE of each member
//   member 2: ...                                   (RFC 1952 allows several; `cat a.gz b.gz` makes them)
//
// After a member ends and input remains, the stream is reset and the rest must be another member.
// Anything else after a member (trailing zeros, garbage) is refused, as Go's gzip reader refuses it,
// because a layer's bytes must decompress to exactly one well-defined stream.

/// Streaming gunzip that computes, in the same pass, the SHA-256 and size of the compressed input
/// (`digest`) and of the decompressed output (`diffID`): what is needed to verify a gzip layer.
public struct Gunzip: Sendable {
    /// Size of the input and output buffers.
    public let bufferSize: Int

    /// A decompressor with `bufferSize`-byte buffers (at least 4 KiB is used).
    public init(bufferSize: Int = 1 << 20) {
        self.bufferSize = max(bufferSize, 4096)
    }

    /// Reads gzip bytes from `read` until it returns 0 and writes the decompressed bytes to `write`.
    ///
    /// `read` fills a prefix of the buffer and returns the count (0 at end of input); `write` gets
    /// decompressed bytes in order (the buffer is valid only during the call); `progress` gets
    /// (compressed bytes read, decompressed bytes written). Everything runs on the calling thread.
    /// Throws `invalidInput` for data that is not gzip, is truncated, or fails its CRC/size check.
    public func decompress(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                           write: (UnsafeRawBufferPointer) throws -> Void,
                           progress: (@Sendable (Int64, Int64) -> Void)? = nil) throws -> CompressionResult {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        guard inflateInit2_(stream, 16 + 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BaleError(.internal, "inflateInit2 failed")
        }
        defer { inflateEnd(stream) }

        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { input.deallocate() }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { output.deallocate() }
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else {
            throw BaleError(.internal, "buffer allocation failed")
        }

        var inputHash = SHA256Hasher()
        var outputHash = SHA256Hasher()
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
        var atEnd = false
        var inMember = false       // bytes of a member have been fed and its end not yet seen
        var members = 0

        while true {
            if stream.pointee.avail_in == 0 && !atEnd {
                let n = try read(input)
                guard n >= 0, n <= input.count else {
                    throw BaleError(.internal, "read callback returned \(n) for a \(input.count)-byte buffer")
                }
                if n == 0 {
                    atEnd = true
                } else {
                    let chunk = UnsafeRawBufferPointer(start: inBase, count: n)
                    inputHash.update(chunk)
                    bytesIn += Int64(n)
                    stream.pointee.next_in = inBase.assumingMemoryBound(to: UInt8.self)
                    stream.pointee.avail_in = uInt(n)
                }
            }
            if stream.pointee.avail_in == 0 && atEnd {
                if inMember {
                    throw BaleError(.invalidInput, "gzip stream is truncated after \(bytesIn) bytes")
                }
                if members == 0 {
                    throw BaleError(.invalidInput, "empty input is not a gzip stream")
                }
                break
            }
            // Inflate until zlib wants more input (output space left over) or a member ends.
            repeat {
                inMember = true
                stream.pointee.next_out = outBase.assumingMemoryBound(to: UInt8.self)
                stream.pointee.avail_out = uInt(output.count)
                let rc = inflate(stream, Z_NO_FLUSH)
                let produced = output.count - Int(stream.pointee.avail_out)
                if produced > 0 {
                    let chunk = UnsafeRawBufferPointer(start: outBase, count: produced)
                    try write(chunk)
                    outputHash.update(chunk)
                    bytesOut += Int64(produced)
                }
                if rc == Z_STREAM_END {
                    inMember = false
                    members += 1
                    guard inflateReset(stream) == Z_OK else { throw BaleError(.internal, "inflateReset failed") }
                    break
                }
                if rc == Z_BUF_ERROR && stream.pointee.avail_in > 0 && stream.pointee.avail_out > 0 {
                    throw BaleError(.internal, "inflate made no progress")   // never loop forever
                }
                guard rc == Z_OK || rc == Z_BUF_ERROR else {
                    let detail = stream.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                    throw BaleError(.invalidInput,
                                    "gzip member \(members + 1) is corrupt near byte \(bytesIn): \(detail)")
                }
            } while stream.pointee.avail_out == 0
            progress?(bytesIn, bytesOut)
        }
        return CompressionResult(diffID: outputHash.finalize(), uncompressedSize: bytesOut,
                                 digest: inputHash.finalize(), compressedSize: bytesIn)
    }
}

extension Gunzip {
    /// Decompresses `input` in memory (for tests and small blobs).
    public func decompress(_ input: Data) throws -> (Data, CompressionResult) {
        var offset = 0
        var output = Data()
        let result = try decompress(read: { buffer in
            let n = min(buffer.count, input.count - offset)
            if n > 0 {
                input.withUnsafeBytes { src in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
                }
            }
            offset += n
            return n
        }, write: { output.append(contentsOf: $0) })
        return (output, result)
    }
}
