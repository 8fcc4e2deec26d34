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

// MARK: - One output on every CPU
//
// ISA-L chooses among several implementations of its deflate internals when first called, from the
// CPU's features (igzip/igzip_multibinary.asm: `mbin_dispatch_init5/6`): portable C ("base"), SSE4.2
// ("01"), AVX ("02"), AVX2 ("04") and AVX-512 ("06"). Most variants are not the same algorithm, so they
// write different bytes. Read from ISA-L 2.30's igzip sources, per level (functions in the order of the
// tiers base/01/02/04/06), and seen on this project's machines (an AVX-512 host, qemu's CPU models):
//
//   level 3     body: icf_body_hash1_fillgreedy_lazy (base, 01, 02) or ..._lazyhash1_fillgreedy_greedy
//               (04, 06). The first calls the C match map gen_icf_map_h1_base directly (multiply hash,
//               8-byte compare); the second the dispatched gen_icf_map_lh1 (04/06 assembly, another hash
//               and match choice). Then set_long_icf_fg extends matches of 8+ bytes: base in C, 04/06 in
//               AVX2/AVX-512. Those are not equivalent: the AVX2 code rewrites every lane of an
//               8-position vector where the extended match is longer than the entry there (the C loop
//               stops at the first position where it is not), and it does not look for a new long
//               match at the last position of an extended one. Swapped in alone, 04 and 06 each
//               changed the match table in most calls and changed the output (measured on 60 MB of
//               `make bench`'s corpus). So for level 3 the tiers base, 01 and 02 are one code path,
//               and no faster one writes its bytes.
//   levels 1-2  isal_deflate_icf_body_hash_hist: base in C (multiply hash); 01/02/04 one assembly
//               source with a CRC-32 hash: other matches, other bytes.
//   level 0     isal_deflate_body/finish likewise (base C vs CRC-32 hash assembly).
//   levels 1-3  encode_deflate_icf, the Huffman encoder of the symbols chosen above: base C, 04 AVX2,
//               06 AVX-512. Each writes, for each symbol in order, the literal/length code (with its
//               extra bits), the distance code and its extra bits, from the same tables, into the same
//               bit buffer, and stops at a symbol boundary once the output is nearly full (the caller
//               resumes from its bit buffer). The bit stream is therefore the same whichever runs; the
//               vector variants only do it faster (about 6 % of level 3's time in C, 3 % in AVX-512).
//
// So bale pins every function that chooses matches, and leaves the Huffman encoder and the checksums
// (crc32_gzip_refl, isal_adler32: their values are fixed by definition) to ISA-L's own dispatch.
// isal_update_histogram, which isal_deflate does not call, stays dispatched too. ISA-L levels 0-3 write
// the bytes of ISA-L's portable code on every CPU. Tests: ParallelGzipTests' recorded digests (on this
// AVX-512 host they run the AVX-512 encoder), and CompressionCPUTests, which imports under qemu's CPU
// models from the first x86-64 to AVX2 and natively.
//
// The pins are exported symbols that libisal.so calls through its PLT, so a definition of the same
// name in the executable takes precedence (ELF symbol interposition, the way a program replaces
// malloc). Each forwards to ISA-L's portable C variant, which is compiled for baseline x86-64 and runs
// on every x86-64 CPU. The cost: level 3's portable match finder is slower than the AVX-512 one (on
// `make bench`'s corpus, one core: about 130 against 370 MB/s); levels 1 and 2 lose less (about 300
// against 500). These functions must be public: whole-module optimisation drops unreferenced internal
// functions, and the linker exports only what survives. On arm64 ISA-L has other variants, not pinned
// here.

#if arch(x86_64)
/// Pins ISA-L's level-0 deflate body to its portable variant. Called by libisal only, never by bale.
@_cdecl("isal_deflate_body")
public func _pinnedIsalDeflateBody(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_body_base(stream)
}

/// Pins ISA-L's level-0 deflate finish to its portable variant. Called by libisal only.
@_cdecl("isal_deflate_finish")
public func _pinnedIsalDeflateFinish(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_finish_base(stream)
}

/// Pins ISA-L's level-1 match finder to its portable variant. Called by libisal only.
@_cdecl("isal_deflate_icf_body_lvl1")
public func _pinnedIsalIcfBodyLevel1(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_icf_body_hash_hist_base(stream)
}

/// Pins ISA-L's level-2 match finder to its portable variant. Called by libisal only.
@_cdecl("isal_deflate_icf_body_lvl2")
public func _pinnedIsalIcfBodyLevel2(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_icf_body_hash_hist_base(stream)
}

/// Pins ISA-L's level-3 match finder to the variant CPUs without AVX2 run. Called by libisal only.
@_cdecl("isal_deflate_icf_body_lvl3")
public func _pinnedIsalIcfBodyLevel3(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    icf_body_hash1_fillgreedy_lazy(stream)
}

/// Pins the end of ISA-L's level-1 stream to its portable variant. Called by libisal only.
@_cdecl("isal_deflate_icf_finish_lvl1")
public func _pinnedIsalIcfFinishLevel1(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_icf_finish_hash_hist_base(stream)
}

/// Pins the end of ISA-L's level-2 stream to its portable variant. Called by libisal only.
@_cdecl("isal_deflate_icf_finish_lvl2")
public func _pinnedIsalIcfFinishLevel2(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_icf_finish_hash_hist_base(stream)
}

/// Pins the end of ISA-L's level-3 stream (one variant already; pinned so the list is complete).
@_cdecl("isal_deflate_icf_finish_lvl3")
public func _pinnedIsalIcfFinishLevel3(_ stream: UnsafeMutablePointer<isal_zstream>?) {
    isal_deflate_icf_finish_hash_map_base(stream)
}

/// Pins the hash ISA-L fills its level-0 table with from a dictionary. Called by libisal only.
@_cdecl("isal_deflate_hash_lvl0")
public func _pinnedIsalHashLevel0(_ table: UnsafeMutablePointer<UInt16>?, _ mask: UInt32, _ index: UInt32,
                                  _ dictionary: UnsafeMutablePointer<UInt8>?, _ count: UInt32) {
    isal_deflate_hash_base(table, mask, index, dictionary, count)
}

/// Pins the hash ISA-L fills its level-1 table with from a dictionary. Called by libisal only.
@_cdecl("isal_deflate_hash_lvl1")
public func _pinnedIsalHashLevel1(_ table: UnsafeMutablePointer<UInt16>?, _ mask: UInt32, _ index: UInt32,
                                  _ dictionary: UnsafeMutablePointer<UInt8>?, _ count: UInt32) {
    isal_deflate_hash_base(table, mask, index, dictionary, count)
}

/// Pins the hash ISA-L fills its level-2 table with from a dictionary. Called by libisal only.
@_cdecl("isal_deflate_hash_lvl2")
public func _pinnedIsalHashLevel2(_ table: UnsafeMutablePointer<UInt16>?, _ mask: UInt32, _ index: UInt32,
                                  _ dictionary: UnsafeMutablePointer<UInt8>?, _ count: UInt32) {
    isal_deflate_hash_base(table, mask, index, dictionary, count)
}

/// Pins the hash ISA-L fills its level-3 table with from a dictionary (AVX2 CPUs use another one,
/// matching their match finder). Called by libisal only.
@_cdecl("isal_deflate_hash_lvl3")
public func _pinnedIsalHashLevel3(_ table: UnsafeMutablePointer<UInt16>?, _ mask: UInt32, _ index: UInt32,
                                  _ dictionary: UnsafeMutablePointer<UInt8>?, _ count: UInt32) {
    isal_deflate_hash_base(table, mask, index, dictionary, count)
}

/// Pins ISA-L's level-3 match map (reached only from the AVX2 match finder, which is not used; pinned so
/// no path is left to the dispatch). Called by libisal only.
@_cdecl("gen_icf_map_lh1")
public func _pinnedIsalMatchMap(_ stream: UnsafeMutablePointer<isal_zstream>?, _ matches: OpaquePointer?,
                                _ count: UInt64) -> UInt64 {
    gen_icf_map_h1_base(stream, matches, count)
}

/// Pins ISA-L's level-3 long-match extension (its AVX2 and AVX-512 variants pick other matches).
/// Called by libisal only.
@_cdecl("set_long_icf_fg")
public func _pinnedIsalLongMatches(_ next: UnsafeMutablePointer<UInt8>?, _ processed: UInt64, _ count: UInt64,
                                   _ matches: OpaquePointer?) {
    set_long_icf_fg_base(next, processed, count, matches)
}
#endif
