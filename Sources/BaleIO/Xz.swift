import BaleCore
import CLzma
import Foundation

// xz through liblzma's multithreaded stream encoder (.xz container, CRC-64 per block):
//
//   stream header | block 0 | block 1 | ... | index | stream footer
//
// The input is cut into fixed-size blocks that liblzma compresses on its own threads; each block
// header records its sizes, so the bytes depend on the preset and the block size but not on the
// number of threads. liblzma owns those threads (they are not `WorkPool` workers); the calling thread
// reads, hashes the input, and writes and hashes the output.

/// An xz compressor on liblzma's multithreaded encoder that computes the SHA-256 of its input and
/// output in the same pass.
public struct XzCompressor: Sendable {
    /// xz preset 0...9 (6 is xz's default).
    public let preset: Int
    /// liblzma encoder threads (at least 1).
    public let jobs: Int
    /// Uncompressed bytes per xz block; 0 lets liblzma choose (3 × the preset's dictionary size).
    public let blockSize: Int
    /// Size of the read and write buffers.
    static let bufferSize = 1 << 20

    /// A compressor; `preset` must be 0...9 (checked by `compress`).
    public init(preset: Int = 6, jobs: Int, blockSize: Int = 0) {
        self.preset = preset
        self.jobs = max(1, jobs)
        self.blockSize = max(0, blockSize)
    }

    /// Reads from `read` until it returns 0 and writes one .xz stream to `write`.
    ///
    /// Same callback contract as `ParallelGzip.compress`: all callbacks run on the calling thread, the
    /// first error stops the encoder and is rethrown.
    public func compress(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                         write: (UnsafeRawBufferPointer) throws -> Void,
                         progress: (@Sendable (Int64, Int64) -> Void)? = nil) throws -> CompressionResult {
        guard (0...9).contains(preset) else {
            throw BaleError(.usage, "xz preset \(preset) is out of range 0...9")
        }
        // liblzma keeps state behind the pointer it is given, so the stream lives at a fixed address.
        let stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
        stream.initialize(to: lzma_stream())
        defer {
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        var options = lzma_mt()
        options.threads = UInt32(min(jobs, 256))
        options.block_size = UInt64(blockSize)
        options.timeout = 0                // block until output is ready: no busy polling
        options.preset = UInt32(preset)
        options.check = LZMA_CHECK_CRC64
        let initResult = lzma_stream_encoder_mt(stream, &options)
        guard initResult == LZMA_OK else {
            throw BaleError(.internal, "lzma_stream_encoder_mt failed (\(initResult.rawValue))")
        }
        defer { lzma_end(stream) }

        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 16)
        defer { input.deallocate() }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 16)
        defer { output.deallocate() }
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else {
            throw BaleError(.internal, "buffer allocation failed")
        }

        var inputHash = SHA256Hasher()
        var outputHash = SHA256Hasher()
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
        var action = LZMA_RUN

        while true {
            if stream.pointee.avail_in == 0 && action == LZMA_RUN {
                let n = try read(input)
                guard n >= 0, n <= input.count else {
                    throw BaleError(.internal, "read callback returned \(n) for a \(input.count)-byte buffer")
                }
                if n == 0 {
                    action = LZMA_FINISH
                } else {
                    inputHash.update(UnsafeRawBufferPointer(start: inBase, count: n))
                    bytesIn += Int64(n)
                    stream.pointee.next_in = UnsafePointer(inBase.assumingMemoryBound(to: UInt8.self))
                    stream.pointee.avail_in = n
                }
            }
            stream.pointee.next_out = outBase.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = output.count
            let rc = lzma_code(stream, action)
            let produced = output.count - stream.pointee.avail_out
            if produced > 0 {
                let chunk = UnsafeRawBufferPointer(start: outBase, count: produced)
                try write(chunk)
                outputHash.update(chunk)
                bytesOut += Int64(produced)
                progress?(bytesIn, bytesOut)
            }
            if rc == LZMA_STREAM_END { break }
            guard rc == LZMA_OK else {
                throw BaleError(.internal, "xz encoder failed (lzma_ret \(rc.rawValue))")
            }
        }
        progress?(bytesIn, bytesOut)
        return CompressionResult(diffID: inputHash.finalize(), uncompressedSize: bytesIn,
                                 digest: outputHash.finalize(), compressedSize: bytesOut)
    }
}

extension XzCompressor {
    /// Compresses `input` in memory (for tests and small blobs).
    public func compress(_ input: Data) throws -> (Data, CompressionResult) {
        try inMemory(input) { try compress(read: $0, write: $1) }
    }
}
