import BaleCore
import CIsal

/// An ISA-L igzip stream kept for reuse (isal_deflate_reset per block), with its level buffer. Used by
/// one worker at a time: `DeflaterCache` hands it out under its lock, hence `@unchecked Sendable`.
///
/// Per block: reset, raw deflate (no wrapper), the previous 32 KiB as dictionary; all but the last block
/// use SYNC_FLUSH (ends with the empty stored block 00 00 ff ff, on a byte boundary); the last block sets
/// `end_of_stream`, which writes the final (BFINAL) block. An empty last block is written as the fixed
/// two bytes 03 00, exactly as zlib writes it, so the empty stream is the same for every engine.
final class IsalDeflater: BlockDeflater, @unchecked Sendable {
    // isal_zstream is ~80 KiB and holds the sliding window; it lives on the heap at a fixed address.
    private let stream: UnsafeMutablePointer<isal_zstream>
    private let level: UInt32
    private let levelBuffer: UnsafeMutableRawPointer?
    private let levelBufferSize: UInt32

    init(level: UInt32) throws {
        guard level <= UInt32(ISAL_DEF_MAX_LEVEL) else {
            throw BaleError(.usage, "ISA-L compression level \(level) is out of range 0...\(ISAL_DEF_MAX_LEVEL)")
        }
        self.level = level
        // Zero-filled raw memory rather than `isal_zstream()`: the struct's huge C arrays import as tuples.
        let size = MemoryLayout<isal_zstream>.size
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<isal_zstream>.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        stream = raw.bindMemory(to: isal_zstream.self, capacity: 1)
        isal_deflate_init(stream)
        levelBufferSize = bale_isal_level_buf_size(level)
        levelBuffer = levelBufferSize > 0
            ? UnsafeMutableRawPointer.allocate(byteCount: Int(levelBufferSize), alignment: 64) : nil
    }

    deinit {
        levelBuffer?.deallocate()
        UnsafeMutableRawPointer(stream).deallocate()
    }

    /// Deflates the job's input, sets its output and CRC-32.
    func run(_ job: DeflateJob) throws {
        let input = job.input
        let bytes = input.base.assumingMemoryBound(to: UInt8.self)
        job.crc = gzipCRC32(bytes, input.count)
        if job.last && input.count == 0 {
            job.reserve(2)
            guard let out = job.output else { throw BaleError(.internal, "no deflate output buffer") }
            out.storeBytes(of: 0x03, toByteOffset: 0, as: UInt8.self)
            out.storeBytes(of: 0x00, toByteOffset: 1, as: UInt8.self)
            job.outputCount = 2
            return
        }

        isal_deflate_reset(stream)
        stream.pointee.level = level
        stream.pointee.level_buf = levelBuffer?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.level_buf_size = levelBufferSize
        stream.pointee.gzip_flag = UInt16(IGZIP_DEFLATE)
        stream.pointee.hist_bits = 0                       // the full 32 KiB window
        stream.pointee.flush = UInt16(job.last ? NO_FLUSH : SYNC_FLUSH)
        stream.pointee.end_of_stream = job.last ? 1 : 0
        if let dictionary = job.dictionary {
            let n = min(dictionary.count, ParallelGzip.dictionarySize)
            let start = dictionary.base.assumingMemoryBound(to: UInt8.self) + (dictionary.count - n)
            let rc = isal_deflate_set_dict(stream, start, UInt32(n))
            guard rc == COMP_OK else { throw BaleError(.internal, "isal_deflate_set_dict failed (\(rc))") }
        }

        stream.pointee.next_in = bytes
        stream.pointee.avail_in = UInt32(input.count)
        // Incompressible input grows by stored-block headers only; the loop doubles the buffer if needed.
        job.reserve(input.count + input.count / 16 + 1024)
        var idle = 0
        while true {
            if job.outputCount == job.outputCapacity { job.reserve(job.outputCapacity * 2) }
            guard let out = job.output else { throw BaleError(.internal, "no deflate output buffer") }
            let room = job.outputCapacity - job.outputCount
            let before = stream.pointee.avail_in
            stream.pointee.next_out = (out + job.outputCount).assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(min(room, Int(UInt32.max)))
            let granted = Int(stream.pointee.avail_out)
            let rc = isal_deflate(stream)
            guard rc == COMP_OK else { throw BaleError(.internal, "isal_deflate failed (\(rc))") }
            let produced = granted - Int(stream.pointee.avail_out)
            job.outputCount += produced
            let state = stream.pointee.internal_state.state
            if job.last {
                if state == ZSTATE_END { break }
            } else if stream.pointee.avail_in == 0 && (stream.pointee.avail_out > 0 || state == ZSTATE_NEW_HDR) {
                // All input taken and the flush written: it returned with output space to spare.
                break
            }
            idle = (produced == 0 && stream.pointee.avail_in == before) ? idle + 1 : 0
            if idle > 2 { throw BaleError(.internal, "isal_deflate made no progress") }   // never loop forever
        }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
    }
}
