import BaleCore
import CZlib
import Dispatch
import Foundation

// Parallel gzip, laid out the way pigz lays it out (RFC 1951/1952):
//
//   1f 8b 08 00 | 00 00 00 00 | XFL | FF        fixed 10-byte header: deflate, no flags, mtime 0,
//                                               XFL 2 (zlib 9) / 4 (ISA-L 0-1, zlib 1) / 0, OS 255
//   block 0: raw deflate of input[0 ..< B]      no dictionary, ends with Z_SYNC_FLUSH (byte boundary,
//                                               empty stored block 00 00 ff ff)
//   block 1: raw deflate of input[B ..< 2B]     dictionary = last 32 KiB of block 0's input
//   ...
//   block n: raw deflate of the rest            dictionary as above, ends with Z_FINISH (BFINAL set)
//                                               (same shape for every engine: zlib or ISA-L igzip)
//   CRC-32 (LE) | ISIZE = size mod 2^32 (LE)    CRC joined from the blocks' CRCs with crc32_combine
//
// Every block's bytes depend only on the engine, its input and the 32 KiB before it, so the output is
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
///
/// The compression level (`--compression-level`) picks the deflate engine (`DeflateEngine(level:)`):
///
///     level  engine          MB/s, one core   size ÷ gzip -6   (`make bench`'s 1 GiB corpus of /usr,
///     1      ISA-L igzip 1   ~310             1.121             deflate alone)
///     2      ISA-L igzip 2   ~240             1.110
///     3      ISA-L igzip 3   ~130             1.075             the default
///     4…9    zlib 4…9        ~25 (zlib 6)     1.00 (zlib 6)     smallest, slowest
///
/// The default, `defaultLevel`, is the fastest level whose output stays within 1.08 × `gzip -6`'s on that
/// corpus, the import pipeline's size target (on compressible files alone ISA-L 3 is 1.11-1.12×); zlib
/// levels give the smallest layers at a fifth of the speed. The bytes depend on the level and on the
/// engine's library version, never on `jobs`, read sizes or the CPU: ISA-L runs its portable match code on
/// every CPU (see DeflateIsal.swift), zlib has no CPU-specific code.
public struct ParallelGzip: Sendable {
    /// bale's compression level, 1 (fastest) ... 9 (smallest); see the table above.
    public let level: Int
    /// The engine the blocks go through: `DeflateEngine(level: level)`, or the one given explicitly;
    /// nil when `level` is out of range (then `compress` throws a usage error).
    public let engine: DeflateEngine?
    /// Blocks in flight are at most 2 × jobs; also the size of the private pool when `pool` is nil.
    public let jobs: Int
    /// Uncompressed bytes per independently deflated block.
    public let blockSize: Int
    /// Shared workers; nil makes a private pool of `jobs` workers for each call.
    public let pool: WorkPool?

    /// The level used when none is given: ISA-L igzip 3, the only ISA-L level within the size target.
    public static let defaultLevel = 3
    /// The output's OS byte: 255 "unknown", as Go's compress/gzip writes it (and so most Docker layers),
    /// which keeps the bytes independent of the host.
    public static let osByte: UInt8 = 255
    /// The amount of preceding input each block gets as its dictionary (deflate's window).
    static let dictionarySize = 32 * 1024

    /// A compressor; `jobs` below 1 counts as 1. `level` must be 1...9 and `blockSize` at least 1 KiB
    /// (checked by `compress`).
    public init(level: Int = ParallelGzip.defaultLevel, jobs: Int, blockSize: Int = 1 << 20,
                pool: WorkPool? = nil) {
        self.level = level
        self.engine = DeflateEngine(level: level)
        self.jobs = max(1, jobs)
        self.blockSize = blockSize
        self.pool = pool
    }

    /// A compressor with an explicit engine, including ones no level maps to (ISA-L 0, zlib 1...3), for
    /// measurements and tests. `level` is reported as the nearest level of the same speed class.
    public init(engine: DeflateEngine, jobs: Int, blockSize: Int = 1 << 20, pool: WorkPool? = nil) {
        switch engine {
        case .isal(let l): self.level = min(max(l, 1), 3)
        case .zlib(let l): self.level = l
        }
        self.engine = engine
        self.jobs = max(1, jobs)
        self.blockSize = blockSize
        self.pool = pool
    }

    /// The header's XFL byte (RFC 1952): 4 for the fastest engines, 2 for the slowest, 0 otherwise.
    var extraFlags: UInt8 {
        switch engine {
        case .zlib(let l)? where l == 9: return 2
        case .zlib(let l)? where l == 1: return 4
        case .isal(let l)? where l <= 1: return 4
        default: return 0
        }
    }

    /// Reads from `read` until it returns 0 and writes one gzip member to `write`.
    ///
    /// - `read` fills a prefix of the buffer and returns how many bytes it wrote (0 at end of input).
    /// - `write` receives the output in order; the buffer is only valid during the call.
    /// - `tee` gets each block of input, in order, once it is read and hashed and before it is
    ///   compressed: the block is never written again and may be kept (a second reader of the same
    ///   bytes, such as a tar parser on another thread, takes it without a copy).
    /// - `progress` gets (uncompressed bytes done, compressed bytes written) after every block.
    ///
    /// All four run on the calling thread. The first error (from a callback or the engine) stops the
    /// pipeline: blocks not yet started are skipped, running ones are awaited, then the error is rethrown.
    public func compress(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                         write: (UnsafeRawBufferPointer) throws -> Void,
                         tee: ((ByteBlock) throws -> Void)? = nil,
                         progress: (@Sendable (Int64, Int64) -> Void)? = nil) throws -> CompressionResult {
        guard let engine else {
            throw BaleError(.usage, "gzip compression level \(level) is out of range 1...9")
        }
        try engine.validate()
        guard blockSize >= 1024, blockSize <= Int(UInt32.max) else {
            throw BaleError(.usage, "gzip block size \(blockSize) is out of range 1 KiB ... 4 GiB")
        }
        let pool = self.pool ?? WorkPool(jobs: jobs)
        let window = 2 * jobs
        let deflaters = DeflaterCache(engine: engine)
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
            crc = crc32_combine(crc, UInt(job.crc), off_t(job.input.count))
            try emit(UnsafeRawBufferPointer(start: job.output, count: job.outputCount))
            bytesDone += Int64(job.input.count)
            progress?(bytesDone, bytesOut)
        }

        do {
            let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extraFlags, Self.osByte]
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
                        inputHash.update(block.bytes)
                        bytesIn += Int64(block.count)
                        try tee?(block)
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
        try inMemory(input) { try compress(read: $0, write: $1) }
    }
}

/// One block's work: written by exactly one worker, then read by the caller after `done` is signalled.
/// The semaphore is the hand-off, hence `@unchecked Sendable`.
final class DeflateJob: @unchecked Sendable {
    let input: ByteBlock
    let dictionary: ByteBlock?
    let last: Bool
    let done = DispatchSemaphore(value: 0)
    var output: UnsafeMutableRawPointer?
    var outputCapacity = 0
    var outputCount = 0
    var crc: UInt32 = 0
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

/// A set-once flag read by workers; the lock makes the write visible to them.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    func set() { lock.withLock { value = true } }
}

/// Runs a streaming (de)compressor over bytes in memory: the one adapter behind the `Data` conveniences
/// of ParallelGzip, Gunzip and XzCompressor.
func inMemory(_ input: Data,
              _ run: (_ read: (UnsafeMutableRawBufferPointer) throws -> Int,
                      _ write: (UnsafeRawBufferPointer) throws -> Void) throws -> CompressionResult)
    rethrows -> (Data, CompressionResult) {
    var offset = 0
    var output = Data()
    let result = try run({ buffer in
        let n = min(buffer.count, input.count - offset)
        if n > 0 {
            input.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
            }
        }
        offset += n
        return n
    }, { output.append(contentsOf: $0) })
    return (output, result)
}
