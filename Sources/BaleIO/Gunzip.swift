import BaleCore
import CIsal
import Foundation

// Streaming gzip decompression with ISA-L's isal_inflate (about twice zlib's speed), gzip wrapper parsed
// and checked by ISA-L (crc_flag ISAL_GZIP: header incl. FNAME/FEXTRA/FCOMMENT/FHCRC, CRC-32 and ISIZE):
//
//   member 1: header | deflate | CRC-32 | ISIZE     each member's CRC-32 and ISIZE are checked
//   member 2: ...                                   (RFC 1952 allows several; `cat a.gz b.gz` makes them)
//
// After a member ends and input remains, the state is reset and the rest must be another member.
// Anything else after a member (trailing zeros, garbage) is refused, as Go's gzip reader refuses it,
// because a layer's bytes must decompress to exactly one well-defined stream.

/// Streaming gunzip. `decompress` also computes, in the same pass, the SHA-256 and size of the compressed
/// input (`digest`) and of the decompressed output (`diffID`): what is needed to verify a gzip layer;
/// `inflate` only decompresses, for readers of blobs already verified on their way into the store.
public struct Gunzip: Sendable {
    /// Size of the input and output buffers.
    public let bufferSize: Int

    /// A decompressor with `bufferSize`-byte buffers (at least 4 KiB is used).
    public init(bufferSize: Int = 1 << 20) {
        self.bufferSize = max(bufferSize, 4096)
    }

    /// Reads gzip bytes from `read` until it returns 0 and writes the decompressed bytes to `write`,
    /// hashing both sides.
    ///
    /// `read` fills a prefix of the buffer and returns the count (0 at end of input); `write` gets
    /// decompressed bytes in order (the buffer is valid only during the call); `progress` gets
    /// (compressed bytes read, decompressed bytes written). Everything runs on the calling thread.
    /// Throws `invalidInput` for data that is not gzip, is truncated, or fails its CRC/size check.
    public func decompress(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                           write: (UnsafeRawBufferPointer) throws -> Void,
                           progress: (@Sendable (Int64, Int64) -> Void)? = nil) throws -> CompressionResult {
        var inputHash = SHA256Hasher()
        var outputHash = SHA256Hasher()
        let (bytesIn, bytesOut) = try inflate(read: { buffer in
            let n = try read(buffer)
            if n > 0 { inputHash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<min(n, buffer.count)])) }
            return n
        }, write: { chunk in
            try write(chunk)
            outputHash.update(chunk)
        }, progress: progress)
        return CompressionResult(diffID: outputHash.finalize(), uncompressedSize: bytesOut,
                                 digest: inputHash.finalize(), compressedSize: bytesIn)
    }

    /// `decompress` without the hashing: returns (compressed bytes read, decompressed bytes written).
    /// The gzip CRC-32 and size checks still apply.
    public func inflate(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                        write: (UnsafeRawBufferPointer) throws -> Void,
                        progress: (@Sendable (Int64, Int64) -> Void)? = nil) throws -> (Int64, Int64) {
        // The push form is the pull form driven to the end: one implementation of the checks.
        try withoutActuallyEscaping(read) { read in
            let source = GunzipSource(source: ClosureByteSource(read), bufferSize: bufferSize)
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
            defer { output.deallocate() }
            while true {
                let n = try source.read(into: output)
                if n == 0 { break }
                try write(UnsafeRawBufferPointer(rebasing: output[0 ..< n]))
                progress?(source.bytesIn, source.bytesOut)
            }
            return (source.bytesIn, source.bytesOut)
        }
    }
}

/// Pull-style gunzip: each `read(into:)` inflates straight into the caller's buffer, reading compressed
/// bytes from `source` as ISA-L asks for them and keeping the inflate state between calls. The checks
/// are those of `Gunzip` (it is built on this): every member's CRC-32 and ISIZE, several members
/// accepted, anything else after a member refused, truncation refused; a read returns 0 only after the
/// last member's trailer was checked. Not thread-safe.
public final class GunzipSource: ByteSource {
    /// Prefixed to error messages (`"<name>: "`) when given.
    public let name: String?
    /// Compressed bytes read from the source so far.
    public private(set) var bytesIn: Int64 = 0
    /// Decompressed bytes returned so far.
    public private(set) var bytesOut: Int64 = 0

    private var source: any ByteSource
    private let rawState: UnsafeMutableRawPointer
    private let state: UnsafeMutablePointer<inflate_state>
    private let input: UnsafeMutableRawBufferPointer
    private var atEnd = false
    private var inMember = false        // bytes of a member have been fed and its end not yet seen
    private var members = 0
    private var outputWasFull = false   // ISA-L may hold decoded bytes it had no room for
    private var finished = false
    private var failure: (any Error)?

    /// Decompresses the gzip stream `source`, reading it `bufferSize` bytes at a time (at least 4 KiB).
    public init(source: any ByteSource, name: String? = nil, bufferSize: Int = 1 << 20) {
        self.source = source
        self.name = name
        // inflate_state is ~100 KiB of tables and window: zero-filled heap memory rather than a Swift
        // initialiser (its big C arrays import as tuples).
        let stateSize = MemoryLayout<inflate_state>.size
        rawState = UnsafeMutableRawPointer.allocate(byteCount: stateSize,
                                                    alignment: MemoryLayout<inflate_state>.alignment)
        rawState.initializeMemory(as: UInt8.self, repeating: 0, count: stateSize)
        state = rawState.bindMemory(to: inflate_state.self, capacity: 1)
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bufferSize, 4096), alignment: 16)
    }

    deinit {
        rawState.deallocate()
        input.deallocate()
    }

    /// Fills a prefix of `buffer` with decompressed bytes; 0 at the end of the last member. Throws
    /// `invalidInput` for data that is not gzip, is truncated, or fails its CRC/size check; errors of
    /// the source pass through. After an error every call throws it again.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let failure { throw failure }
        guard !finished, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        do {
            return try inflate(into: base, count: min(buffer.count, Int(UInt32.max)))
        } catch {
            failure = error
            throw error
        }
    }

    private func inflate(into outBase: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let prefix = name.map { "\($0): " } ?? ""
        while true {
            // Input is read only when ISA-L has none and had room to flush what it decoded.
            if state.pointee.avail_in == 0 && !outputWasFull {
                if !atEnd {
                    let n = try source.read(into: input)
                    guard n >= 0, n <= input.count, let inBase = input.baseAddress else {
                        throw BaleError(.internal, "\(prefix)read returned \(n) for a \(input.count)-byte buffer")
                    }
                    if n == 0 {
                        atEnd = true
                    } else {
                        bytesIn += Int64(n)
                        state.pointee.next_in = inBase.assumingMemoryBound(to: UInt8.self)
                        state.pointee.avail_in = UInt32(n)
                    }
                }
                if atEnd && state.pointee.avail_in == 0 {
                    if inMember {
                        throw BaleError(.invalidInput, "\(prefix)gzip stream is truncated after \(bytesIn) bytes")
                    }
                    if members == 0 {
                        throw BaleError(.invalidInput, "\(prefix)empty input is not a gzip stream")
                    }
                    finished = true
                    return 0
                }
            }
            inMember = true
            state.pointee.next_out = outBase.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = UInt32(count)
            let availBefore = state.pointee.avail_in
            let rc = isal_inflate(state)
            let produced = count - Int(state.pointee.avail_out)
            outputWasFull = state.pointee.avail_out == 0
            bytesOut += Int64(produced)
            // Positive codes are states, not errors; a dictionary never occurs in gzip.
            guard rc >= 0, rc != ISAL_NEED_DICT else {
                throw BaleError(.invalidInput, "\(prefix)gzip member \(members + 1) is corrupt near byte \(bytesIn): "
                                + Gunzip.describe(rc))
            }
            if state.pointee.block_state == ISAL_BLOCK_FINISH {
                // ISA-L hands unread bytes back through next_in/avail_in when a member ends; a whole
                // byte still in its bit buffer would be lost, so that is refused, not ignored.
                guard state.pointee.read_in_length < 8 else {
                    throw BaleError(.internal, "\(prefix)isal_inflate kept input past the end of a gzip member")
                }
                inMember = false
                outputWasFull = false
                members += 1
                let nextIn = state.pointee.next_in
                let availIn = state.pointee.avail_in
                isal_inflate_reset(state)
                state.pointee.crc_flag = UInt32(ISAL_GZIP)
                state.pointee.next_in = nextIn
                state.pointee.avail_in = availIn
            } else if produced == 0 && availBefore > 0 && state.pointee.avail_in == availBefore {
                throw BaleError(.internal, "\(prefix)isal_inflate made no progress")   // never loop forever
            }
            if produced > 0 { return produced }
        }
    }
}

extension Gunzip {
    /// ISA-L's inflate error codes in words.
    static func describe(_ rc: Int32) -> String {
        switch rc {
        case ISAL_INVALID_BLOCK: return "invalid deflate block"
        case ISAL_INVALID_SYMBOL: return "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: return "invalid back-reference distance"
        case ISAL_INVALID_WRAPPER: return "not a gzip header"
        case ISAL_UNSUPPORTED_METHOD: return "compression method is not deflate"
        case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or size check failed"
        case ISAL_NEED_DICT: return "needs a preset dictionary"
        default: return "ISA-L error \(rc)"
        }
    }

    /// Decompresses `input` in memory (for tests and small blobs).
    public func decompress(_ input: Data) throws -> (Data, CompressionResult) {
        try inMemory(input) { try decompress(read: $0, write: $1) }
    }
}
