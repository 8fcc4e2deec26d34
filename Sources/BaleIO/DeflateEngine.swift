import BaleCore
import CIsal
import Foundation

// The deflate engines behind ParallelGzip and how `--compression-level` picks one.
//
//   level | engine         | `make bench`'s 1 GiB corpus: MB/s of one core, size ÷ gzip -6
//   ------+----------------+--------------------------------------------------------
//     1   | ISA-L igzip 1  | ~310, 1.121   fastest
//     2   | ISA-L igzip 2  | ~240, 1.110
//     3   | ISA-L igzip 3  | ~130, 1.075   the default: the smallest ISA-L level, within 1.08
//   4...9 | zlib 4...9     | ~25,  1.00 (zlib 6, gzip's own default)   smallest
//
// ISA-L runs its portable C match code on every CPU (pinned in DeflateIsal.swift; only its Huffman
// encoder, which writes the same bits on every CPU, uses AVX2 or AVX-512), so every level writes the
// same bytes on every x86-64 CPU.
//
// Each engine deflates one block at a time: raw deflate, the previous block's last 32 KiB as
// dictionary, ended on a byte boundary (sync flush) or, for the last block, with a final block.

/// Which deflate implementation compresses the blocks of a `ParallelGzip` stream, and at which of its
/// own levels. Chosen from bale's 1...9 compression level by `DeflateEngine(level:)`.
public enum DeflateEngine: Sendable, Hashable, CustomStringConvertible {
    /// zlib's deflate at its level 1...9 (the reference; smallest output, slowest).
    case zlib(level: Int)
    /// Intel ISA-L's igzip at its level 0...3 (several times faster than zlib, slightly larger output).
    case isal(level: Int)

    /// The engine for bale's compression `level` (1 fastest ... 9 smallest); nil outside 1...9.
    /// 1...3 are ISA-L 1...3, 4...9 are zlib 4...9.
    public init?(level: Int) {
        switch level {
        case 1...3: self = .isal(level: level)
        case 4...9: self = .zlib(level: level)
        default: return nil
        }
    }

    /// "zlib-6", "isal-3".
    public var description: String {
        switch self {
        case .zlib(let level): return "zlib-\(level)"
        case .isal(let level): return "isal-\(level)"
        }
    }

    /// Throws `usage` when the engine's own level is out of its range.
    func validate() throws {
        switch self {
        case .zlib(let level) where !(1...9).contains(level):
            throw BaleError(.usage, "zlib compression level \(level) is out of range 1...9")
        case .isal(let level) where !(0...3).contains(level):
            throw BaleError(.usage, "ISA-L compression level \(level) is out of range 0...3")
        default:
            return
        }
    }

    /// A fresh block deflater for this engine.
    func makeDeflater() throws -> any BlockDeflater {
        switch self {
        case .zlib(let level): return try ZlibDeflater(level: Int32(level))
        case .isal(let level): return try IsalDeflater(level: UInt32(level))
        }
    }
}

/// Deflates one `DeflateJob` (sets its output and CRC-32). An instance is reused for many blocks but
/// used by one worker at a time.
protocol BlockDeflater: AnyObject, Sendable {
    func run(_ job: DeflateJob) throws
}

/// CRC-32 (gzip's, reflected IEEE) of `count` bytes, with ISA-L's carry-less-multiply version, which is
/// several times faster than zlib's and gives the same value.
func gzipCRC32(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> UInt32 {
    guard let bytes, count > 0 else { return 0 }
    return crc32_gzip_refl(0, bytes, UInt64(count))
}

/// The deflaters of one `compress` call: at most one per concurrently running block.
/// A lock guards the free list because workers take and return deflaters concurrently.
final class DeflaterCache: @unchecked Sendable {
    private let engine: DeflateEngine
    private let lock = NSLock()
    private var free: [any BlockDeflater] = []

    init(engine: DeflateEngine) { self.engine = engine }

    func take() throws -> any BlockDeflater {
        if let d = lock.withLock({ free.popLast() }) { return d }
        return try engine.makeDeflater()
    }

    func put(_ deflater: any BlockDeflater) {
        lock.withLock { free.append(deflater) }
    }
}
