import BaleCore
import CZlib

/// A raw-deflate z_stream kept for reuse (deflateReset instead of a fresh allocation per block). Used by
/// one worker at a time: `DeflaterCache` hands it out under its lock, hence `@unchecked Sendable`.
final class ZlibDeflater: BlockDeflater, @unchecked Sendable {
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
        job.crc = gzipCRC32(bytes, input.count)

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
