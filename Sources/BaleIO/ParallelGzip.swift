import BaleCore
import CZlib
import Dispatch
import Foundation

// Parallel gzip, laid out the way pigz lays it out (RFC 1951/1952):
//
//   1f 8b 08 00 | 00 00 00 00 | XFL | FF        fixed 10-byte header: deflate, no flags, mtime 0,
//                                               XFL 2 (level 9) / 4 (level 1) / 0, OS 255 "unknown"
//   block 0: raw deflate of input[0 ..< B]      no dictionary, ends with Z_SYNC_FLUSH (byte boundary,
//                                               empty stored block 00 00 ff ff)
//   block 1: raw deflate of input[B ..< 2B]     dictionary = last 32 KiB of block 0's input
//   ...
//   block n: raw deflate of the rest            dictionary as above, ends with Z_FINISH (BFINAL set)
//   CRC-32 (LE) | ISIZE = size mod 2^32 (LE)    CRC joined from the blocks' CRCs with crc32_combine
//
// Every block's bytes depend only on the level, its input and the 32 KiB before it, so the output is
// the same whatever `jobs` is. An empty input is a single final block (03 00).
//
// Threads: the calling thread reads, hashes the input (diffID), and writes the blocks back in order while
// hashing the output (digest); the pool's workers only deflate and CRC. At most 2 × jobs blocks are
// submitted and unwritten at a time, plus the one held back until it is known whether it is the last.

/// The two digests and sizes of a layer, from one pass over its bytes: `diffID` and `uncompressedSize`
/// describe the uncompressed stream, `digest` and `compressedSize` the compressed one. Produced by the
/// compressors (`ParallelGzip`, `XzCompressor`) and by `Gunzip`.
public struct CompressionResult: Sendable, Equatable {
    /// SHA-256 of the uncompressed bytes (the layer's DiffID).
    public let diffID: BaleCore.Digest
    /// Number of uncompressed bytes.
    public let uncompressedSize: Int64
    /// SHA-256 of the compressed bytes (the layer blob's digest).
    public let digest: BaleCore.Digest
    /// Number of compressed bytes.
    public let compressedSize: Int64

    /// Bundles the four values.
    public init(diffID: BaleCore.Digest, uncompressedSize: Int64, digest: BaleCore.Digest, compressedSize: Int64) {
        self.diffID = diffID
        self.uncompressedSize = uncompressedSize
        self.digest = digest
        self.compressedSize = compressedSize
    }
}

/// A pigz-style parallel gzip compressor producing one standard gzip member, byte-identical for every
/// `jobs` value, while computing the SHA-256 of its input and of its output in the same pass.
public struct ParallelGzip: Sendable {
    /// zlib level, 1 (fastest) ... 9 (smallest); 6 is gzip's default.
    public let level: Int
    /// Blocks in flight are at most 2 × jobs; also the size of the private pool when `pool` is nil.
    public let jobs: Int
    /// Uncompressed bytes per independently deflated block.
    public let blockSize: Int
    /// Shared workers; nil makes a private pool of `jobs` workers for each call.
    public let pool: WorkPool?

    /// The output's OS byte: 255 "unknown", as Go's compress/gzip writes it (and so most Docker layers),
    /// which keeps the bytes independent of the host.
    public static let osByte: UInt8 = 255
    /// The amount of preceding input each block gets as its dictionary (deflate's window).
    static let dictionarySize = 32 * 1024

    /// A compressor; `jobs` below 1 counts as 1. `level` must be 1...9 and `blockSize` at least 1 KiB
    /// (checked by `compress`).
    public init(level: Int = 6, jobs: Int, blockSize: Int = 1 << 20, pool: WorkPool? = nil) {
        self.level = level
        self.jobs = max(1, jobs)
        self.blockSize = blockSize
        self.pool = pool
    }

    /// Reads from `read` until it returns 0 and writes one gzip member to `write`.
    ///
    /// - `read` fills a prefix of the buffer and returns how many bytes it wrote (0 at end of input).
    /// - `write` receives the output in order; the buffer is only valid during the call.
    /// - `progress` gets (uncompressed bytes done, compressed bytes written) after every block.
    ///
    /// All three run on the calling thread. The first error (from a callback or from zlib) stops the
    /// pipeline: blocks not yet started are skipped, running ones are awaited, then the error is rethrown.
    public func compress(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                         write: (UnsafeRawBufferPointer) throws -> Void,
                         progress: (@Sendable (Int64, Int64) -> Void)? = nil) throws -> CompressionResult {
        guard (1...9).contains(level) else {
            throw BaleError(.usage, "gzip compression level \(level) is out of range 1...9")
        }
        guard blockSize >= 1024, blockSize <= Int(UInt32.max) else {
            throw BaleError(.usage, "gzip block size \(blockSize) is out of range 1 KiB ... 4 GiB")
        }
        let pool = self.pool ?? WorkPool(jobs: jobs)
        let window = 2 * jobs
        let deflaters = DeflaterCache(level: Int32(level))
        let cancelled = Flag()

        var pending: [DeflateJob] = []     // submitted, not yet written; oldest first
        var held: ByteBlock?               // read and hashed, submitted once we know if it is the last
        var previous: ByteBlock?           // the last submitted block: dictionary for the next one
        var inputHash = SHA256Hasher()
        var outputHash = SHA256Hasher()
        var bytesIn: Int64 = 0
        var bytesDone: Int64 = 0
        var bytesOut: Int64 = 0
        var crc: UInt = 0

        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            guard bytes.count > 0 else { return }
            try write(bytes)
            outputHash.update(bytes)
            bytesOut += Int64(bytes.count)
        }

        func submit(_ block: ByteBlock, last: Bool) {
            let job = DeflateJob(input: block, dictionary: previous, last: last)
            previous = block
            pending.append(job)
            pool.submit {
                if cancelled.isSet {
                    job.error = BaleError(.interrupted, "gzip block skipped after an earlier error")
                } else {
                    do {
                        let deflater = try deflaters.take()
                        defer { deflaters.put(deflater) }
                        try deflater.run(job)
                    } catch {
                        job.error = error
                    }
                }
                job.done.signal()
            }
        }

        // Writes a finished block; the job has already been removed from `pending`.
        func finish(_ job: DeflateJob) throws {
            if let error = job.error { throw error }
            crc = crc32_combine(crc, job.crc, off_t(job.input.count))
            try emit(UnsafeRawBufferPointer(start: job.output, count: job.outputCount))
            bytesDone += Int64(job.input.count)
            progress?(bytesDone, bytesOut)
        }

        do {
            let xfl: UInt8 = level == 9 ? 2 : (level == 1 ? 4 : 0)
            let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, Self.osByte]
            try header.withUnsafeBytes { try emit($0) }

            var atEnd = false
            while true {
                // Write whatever is ready, in order, without waiting.
                while let head = pending.first, head.done.wait(timeout: .now()) == .success {
                    pending.removeFirst()
                    try finish(head)
                }
                if !atEnd && pending.count < window {
                    let block = ByteBlock(capacity: blockSize)
                    atEnd = try block.fill(from: read)
                    if block.count > 0 {
                        inputHash.update(UnsafeRawBufferPointer(start: block.base, count: block.count))
                        bytesIn += Int64(block.count)
                        if let h = held { submit(h, last: false) }
                        held = block
                    }
                    if atEnd {
                        submit(held ?? ByteBlock(capacity: 0), last: true)
                        held = nil
                    }
                    continue
                }
                guard let head = pending.first else { break }
                pending.removeFirst()
                head.done.wait()
                try finish(head)
            }

            var trailer = [UInt8](repeating: 0, count: 8)
            let size = UInt32(truncatingIfNeeded: bytesIn)
            for i in 0..<4 {
                trailer[i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: crc) >> (8 * i))
                trailer[4 + i] = UInt8(truncatingIfNeeded: size >> (8 * i))
            }
            try trailer.withUnsafeBytes { try emit($0) }
            progress?(bytesDone, bytesOut)
        } catch {
            // Skip what has not started, and wait for what has, so no worker outlives this call.
            cancelled.set()
            for job in pending { job.done.wait() }
            throw error
        }
        return CompressionResult(diffID: inputHash.finalize(), uncompressedSize: bytesIn,
                                 digest: outputHash.finalize(), compressedSize: bytesOut)
    }
}

extension ParallelGzip {
    /// Compresses `input` in memory (for tests and small blobs); returns the gzip bytes and the result.
    public func compress(_ input: Data) throws -> (Data, CompressionResult) {
        var offset = 0
        var output = Data()
        let result = try compress(read: { buffer in
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

/// An owned, fixed-capacity byte buffer. It is handed from the reading thread to one worker and back;
/// the pool's queue and each job's semaphore order those accesses, hence `@unchecked Sendable`.
final class ByteBlock: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    deinit { base.deallocate() }

    /// Reads until full or until `read` returns 0; returns true at end of input. Blocks are always filled
    /// completely before the end, so block boundaries (and the output) never depend on read sizes.
    func fill(from read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Bool {
        while count < capacity {
            let n = try read(UnsafeMutableRawBufferPointer(start: base + count, count: capacity - count))
            if n == 0 { return true }
            guard n > 0, n <= capacity - count else {
                throw BaleError(.internal, "read callback returned \(n) for a \(capacity - count)-byte buffer")
            }
            count += n
        }
        return false
    }
}

/// One block's work: written by exactly one worker, then read by the caller after `done` is signalled.
/// The semaphore is the hand-off, hence `@unchecked Sendable`.
private final class DeflateJob: @unchecked Sendable {
    let input: ByteBlock
    let dictionary: ByteBlock?
    let last: Bool
    let done = DispatchSemaphore(value: 0)
    var output: UnsafeMutableRawPointer?
    var outputCapacity = 0
    var outputCount = 0
    var crc: UInt = 0
    var error: (any Error)?

    init(input: ByteBlock, dictionary: ByteBlock?, last: Bool) {
        self.input = input
        self.dictionary = dictionary
        self.last = last
    }

    deinit { output?.deallocate() }

    /// Makes room for at least `capacity` output bytes, keeping what is there.
    func reserve(_ capacity: Int) {
        guard capacity > outputCapacity else { return }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        if let old = output {
            bigger.copyMemory(from: old, byteCount: outputCount)
            old.deallocate()
        }
        output = bigger
        outputCapacity = capacity
    }
}

/// A raw-deflate z_stream kept for reuse (deflateReset instead of a fresh allocation per block). Used by
/// one worker at a time: `DeflaterCache` hands it out under its lock, hence `@unchecked Sendable`.
private final class Deflater: @unchecked Sendable {
    // zlib keeps a back-pointer to the z_stream, so it lives at a fixed heap address.
    private let stream: UnsafeMutablePointer<z_stream>

    init(level: Int32) throws {
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // windowBits -15: raw deflate with a 32 KiB window; memLevel 8 as gzip and pigz use.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw BaleError(.internal, "deflateInit2 failed (\(rc))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Deflates the job's input, sets its output and CRC-32.
    func run(_ job: DeflateJob) throws {
        guard deflateReset(stream) == Z_OK else { throw BaleError(.internal, "deflateReset failed") }
        if let dictionary = job.dictionary {
            let n = min(dictionary.count, ParallelGzip.dictionarySize)
            let start = dictionary.base.assumingMemoryBound(to: UInt8.self) + (dictionary.count - n)
            guard deflateSetDictionary(stream, start, uInt(n)) == Z_OK else {
                throw BaleError(.internal, "deflateSetDictionary failed")
            }
        }
        let input = job.input
        let bytes = input.base.assumingMemoryBound(to: UInt8.self)
        job.crc = crc32(0, bytes, uInt(input.count))

        stream.pointee.next_in = bytes
        stream.pointee.avail_in = uInt(input.count)
        // deflateBound covers Z_FINISH; a sync flush adds at most a few bytes, and the loop grows if not.
        job.reserve(Int(deflateBound(stream, uLong(input.count))) + 64)
        let flush = job.last ? Z_FINISH : Z_SYNC_FLUSH
        while true {
            if job.outputCount == job.outputCapacity { job.reserve(job.outputCapacity * 2) }
            guard let out = job.output else { throw BaleError(.internal, "no deflate output buffer") }
            let room = job.outputCapacity - job.outputCount
            stream.pointee.next_out = (out + job.outputCount).assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = uInt(room)
            let rc = deflate(stream, flush)
            job.outputCount += room - Int(stream.pointee.avail_out)
            if rc == Z_STREAM_END { break }
            guard rc == Z_OK || rc == Z_BUF_ERROR else {
                throw BaleError(.internal, "deflate failed (\(rc))")
            }
            // A sync flush is complete when deflate returns with output space to spare.
            if !job.last && stream.pointee.avail_out > 0 && stream.pointee.avail_in == 0 { break }
            if rc == Z_BUF_ERROR && stream.pointee.avail_out > 0 {
                throw BaleError(.internal, "deflate made no progress")   // never loop forever
            }
        }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
    }
}

/// The deflaters of one `compress` call: at most one per concurrently running block.
/// A lock guards the free list because workers take and return deflaters concurrently.
private final class DeflaterCache: @unchecked Sendable {
    private let level: Int32
    private let lock = NSLock()
    private var free: [Deflater] = []

    init(level: Int32) { self.level = level }

    func take() throws -> Deflater {
        if let d = lock.withLock({ free.popLast() }) { return d }
        return try Deflater(level: level)
    }

    func put(_ deflater: Deflater) {
        lock.withLock { free.append(deflater) }
    }
}

/// A set-once flag read by workers; the lock makes the write visible to them.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    func set() { lock.withLock { value = true } }
}
