import BaleCore
import BaleIO
import Dispatch
import Foundation
import Testing

@Suite struct ParallelGzipTests {
    static let block = 64 * 1024
    static let sizes = [0, 1, block - 1, block, block + 1, 5 * block + 123]

    /// Every engine a level maps to, plus the ones reachable only explicitly (ISA-L 0, zlib 1...3).
    static let engines: [DeflateEngine] = (0...3).map { .isal(level: $0) } + (1...9).map { .zlib(level: $0) }

    @Test(arguments: engines, sizes)
    func sameBytesForEveryJobsValueAndValidGzip(engine: DeflateEngine, size: Int) throws {
        let input = GzipTestSupport.mixedData(size: size, seed: UInt64(size) + 7)
        let (reference, result) = try ParallelGzip(engine: engine, jobs: 1, blockSize: Self.block).compress(input)
        for jobs in [2, 3, 8] {
            let (output, other) = try ParallelGzip(engine: engine, jobs: jobs, blockSize: Self.block).compress(input)
            #expect(output == reference, "\(engine) jobs \(jobs) differs from jobs 1 at size \(size)")
            #expect(other == result)
        }
        #expect(result.uncompressedSize == Int64(size))
        #expect(result.compressedSize == Int64(reference.count))
        #expect(result.diffID == GzipTestSupport.sha256(input))
        #expect(result.digest == GzipTestSupport.sha256(reference))
        #expect(try GzipTestSupport.gzipAccepts(reference), "\(engine) size \(size)")
        let roundTrip = try GzipTestSupport.gunzipWithSystem(reference)
        #expect(GzipTestSupport.sha256(roundTrip) == result.diffID)
    }

    @Test func levelsMapToEngines() throws {
        #expect(DeflateEngine(level: 0) == nil)
        #expect(DeflateEngine(level: 10) == nil)
        #expect((1...3).map { DeflateEngine(level: $0) } == [.isal(level: 1), .isal(level: 2), .isal(level: 3)])
        #expect((4...9).map { DeflateEngine(level: $0) } == (4...9).map { .zlib(level: $0) })
        #expect(ParallelGzip.defaultLevel == 3)
        #expect(ParallelGzip(jobs: 1).engine == .isal(level: 3))
        #expect(ParallelGzip(level: 6, jobs: 1).engine == .zlib(level: 6))
        #expect(ParallelGzip(engine: .isal(level: 0), jobs: 1).level == 1)
    }

    /// ISA-L levels 0-3 write these bytes on every CPU: DeflateIsal.swift pins ISA-L's CPU-dispatched
    /// deflate functions to their portable C variants. Unpinned, this host's AVX-512 code wrote other
    /// bytes at levels 1-3 (and an AVX2 or pre-SSE4.2 CPU others again); CompressionCPUTests runs the
    /// same comparison under qemu's CPU models. A new ISA-L version may legitimately change these
    /// digests (a layer's bytes depend on the library version); the CPU must never.
    @Test func isalLevelsWriteThePinnedPortableBytes() throws {
        let input = GzipTestSupport.mixedData(size: 1 << 20, seed: 42)
        let expected = [
            0: "c24f13228cfdfedb557a9328c0215b7a6c2cf772e7a356d75443cabe22bcda38",
            1: "c208339b1158279d78c6cdbdb862993a2caa053d6526b8b4cf1cb2289760190f",
            2: "29ca361d7f4f6412f20871f047e772a7c969b3abca12ea4fb533524b089fe4bb",
            3: "25b9928a6a2d5a6333eaa116bdf41ba661ef2cdec3e0b4e03051415817f5171f",
        ]
        for level in 0...3 {
            let (output, _) = try ParallelGzip(engine: .isal(level: level), jobs: 2, blockSize: 256 << 10).compress(input)
            #expect(GzipTestSupport.sha256(output).encoded == expected[level], "ISA-L level \(level)")
        }
    }

    /// The same on 4 MiB rich in long matches, where ISA-L's AVX2 and AVX-512 long-match extension
    /// (set_long_icf_fg_04/06) chooses other matches than its C code (swapped in for the C one, it changed
    /// the level-3 digest here and above). ISA-L's vector Huffman encoder, which bale leaves to the
    /// dispatch, runs here (AVX-512 on this project's host) and must write the portable code's bytes; these
    /// digests are those the fully pinned build wrote.
    @Test func isalLevelsWriteThePinnedPortableBytesOnLongMatches() throws {
        let input = GzipTestSupport.longMatchData(size: 4 << 20, seed: 7)
        let expected = [
            1: "626957b8156f8f68aa2276ee5fd49cec0e79d8eccc10dcc0d5d7ef621a71e865",
            2: "4b5185c9da2f4c662527968b541abce0b7664483a9313bae4e39c4f284103818",
            3: "c4d7f08dd049a71e199f98ebbbd53348784cc4c0cd47f6cfd72d9dfc261074d4",
        ]
        for level in 1...3 {
            let (output, _) = try ParallelGzip(engine: .isal(level: level), jobs: 2).compress(input)
            #expect(GzipTestSupport.sha256(output).encoded == expected[level], "ISA-L level \(level)")
        }
    }

    @Test func defaultLevelOnRealFilesCloseToGzip6() throws {
        let input = try GzipTestSupport.systemFileData(size: 6 << 20)
        try #require(input.count > 4 << 20, "not enough files under /usr/share, /usr/include, /usr/lib")
        let (one, result) = try ParallelGzip(jobs: 1).compress(input)
        let (two, _) = try ParallelGzip(jobs: 2).compress(input)
        #expect(one == two)
        #expect(try GzipTestSupport.gzipAccepts(one))
        #expect(GzipTestSupport.sha256(try GzipTestSupport.gunzipWithSystem(one)) == result.diffID)
        let gzip6 = try GzipTestSupport.gzipWithSystem(input, level: 6)
        // The import target (≤ 1.08 × gzip -6) holds on `make bench`'s whole 1 GiB corpus (1.075×), where
        // already-compressed and binary files dilute the gap; on compressible files alone, like this
        // sample, ISA-L 3 measures about 1.1×. This guards against regressions beyond that.
        #expect(Double(one.count) <= 1.15 * Double(gzip6.count), "\(one.count) vs gzip -6 \(gzip6.count)")
        // zlib 6 through the block pipeline stays within pigz's usual overhead of gzip -6.
        let (zlib6, _) = try ParallelGzip(level: 6, jobs: 2).compress(input)
        #expect(Double(zlib6.count) <= 1.01 * Double(gzip6.count), "\(zlib6.count) vs gzip -6 \(gzip6.count)")
    }

    @Test func fixedHeaderAndEmptyStream() throws {
        for engine in Self.engines {
            let (empty, result) = try ParallelGzip(engine: engine, jobs: 2).compress(Data())
            // header, one final empty fixed-Huffman block (03 00), CRC 0, ISIZE 0
            var expected: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
            switch engine {
            case .isal(level: 0), .isal(level: 1), .zlib(level: 1): expected[8] = 4
            case .zlib(level: 9): expected[8] = 2
            default: break
            }
            #expect(Array(empty) == expected, "\(engine)")
            #expect(result.diffID == GzipTestSupport.sha256(Data()))
        }
        let (fast, _) = try ParallelGzip(level: 1, jobs: 1).compress(Data("x".utf8))
        let (normal, _) = try ParallelGzip(jobs: 1).compress(Data("x".utf8))
        let (best, _) = try ParallelGzip(level: 9, jobs: 1).compress(Data("x".utf8))
        #expect(fast[8] == 4)
        #expect(normal[8] == 0)
        #expect(best[8] == 2)
    }

    @Test func levelsChangeSizeAndAllDecompress() throws {
        let input = try GzipTestSupport.systemFileData(size: 2 << 20)
        var sizes: [Int] = []
        for level in 1...9 {
            let (output, result) = try ParallelGzip(level: level, jobs: 2, blockSize: Self.block).compress(input)
            #expect(try GzipTestSupport.gunzipWithSystem(output) == input, "level \(level)")
            #expect(result.compressedSize == Int64(output.count))
            sizes.append(output.count)
        }
        #expect(sizes[0] > sizes[2], "ISA-L 1 should be larger than ISA-L 3: \(sizes)")
        #expect(sizes[2] > sizes[5], "ISA-L 3 should be larger than zlib 6: \(sizes)")
        #expect(sizes[5] >= sizes[8], "zlib 6 should not be smaller than zlib 9: \(sizes)")
    }

    @Test func invalidSettingsAreUsageErrors() throws {
        for gz in [ParallelGzip(level: 0, jobs: 1), ParallelGzip(level: 10, jobs: 1),
                   ParallelGzip(jobs: 1, blockSize: 10),
                   ParallelGzip(engine: .isal(level: 4), jobs: 1), ParallelGzip(engine: .isal(level: -1), jobs: 1),
                   ParallelGzip(engine: .zlib(level: 0), jobs: 1), ParallelGzip(engine: .zlib(level: 10), jobs: 1)] {
            let error = #expect(throws: BaleError.self) { try gz.compress(Data("abc".utf8)) }
            #expect(error?.code == .usage)
        }
    }

    @Test(arguments: [DeflateEngine.isal(level: 1), .isal(level: 2), .isal(level: 3), .zlib(level: 6)])
    func outputDoesNotDependOnReadSizes(engine: DeflateEngine) throws {
        let input = GzipTestSupport.mixedData(size: 3 * Self.block + 999, seed: 11)
        let (reference, _) = try ParallelGzip(engine: engine, jobs: 2, blockSize: Self.block).compress(input)
        var rng = GzipTestSupport.SplitMix64(seed: 5)
        var offset = 0
        var output = Data()
        _ = try ParallelGzip(engine: engine, jobs: 3, blockSize: Self.block).compress(read: { buffer in
            let want = Int(rng.next() % 5000) + 1
            let n = min(want, buffer.count, input.count - offset)
            input.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
            }
            offset += n
            return n
        }, write: { output.append(contentsOf: $0) }, progress: nil)
        #expect(output == reference)
    }

    @Test func progressEndsAtTheTotals() throws {
        let input = GzipTestSupport.mixedData(size: 4 * Self.block + 5, seed: 9)
        let seen = Collector<[Int64]>()
        var offset = 0
        let result = try ParallelGzip(jobs: 2, blockSize: Self.block).compress(read: { buffer in
            let n = min(buffer.count, input.count - offset)
            input.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
            }
            offset += n
            return n
        }, write: { _ in }, progress: { seen.append([$0, $1]) })
        let values = seen.values
        #expect(values.count >= 5)
        #expect(values.last == [result.uncompressedSize, result.compressedSize])
        #expect(values.map { $0[0] } == values.map { $0[0] }.sorted())
    }

    @Test(arguments: [1, 2, 8])
    func writeErrorPropagatesAndFreesThePool(jobs: Int) throws {
        let pool = WorkPool(jobs: jobs)
        let input = GzipTestSupport.mixedData(size: 40 * Self.block, seed: 2)
        var writes = 0
        var offset = 0
        let error = #expect(throws: InjectedError.self) {
            try ParallelGzip(jobs: jobs, blockSize: Self.block, pool: pool).compress(read: { buffer in
                let n = min(buffer.count, input.count - offset)
                input.withUnsafeBytes { src in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
                }
                offset += n
                return n
            }, write: { _ in
                writes += 1
                if writes == 4 { throw InjectedError(where_: "write") }
            }, progress: nil)
        }
        #expect(error == InjectedError(where_: "write"))
        #expect(offset < input.count, "reading should stop early, read \(offset) of \(input.count)")
        // Every slot came back: the same pool still compresses.
        let (output, _) = try ParallelGzip(jobs: jobs, blockSize: Self.block, pool: pool).compress(input)
        #expect(try GzipTestSupport.gunzipWithSystem(output) == input)
    }

    @Test func readErrorPropagates() throws {
        var calls = 0
        let error = #expect(throws: InjectedError.self) {
            try ParallelGzip(jobs: 2, blockSize: Self.block).compress(read: { buffer in
                calls += 1
                if calls == 7 { throw InjectedError(where_: "read") }
                buffer.initializeMemory(as: UInt8.self, repeating: UInt8(calls))
                return buffer.count
            }, write: { _ in }, progress: nil)
        }
        #expect(error == InjectedError(where_: "read"))
    }

    @Test func concurrentBlobsShareOnePool() throws {
        let pool = WorkPool(jobs: 2)
        let inputs = (0..<3).map { GzipTestSupport.mixedData(size: 3 * Self.block + $0 * 1000, seed: UInt64($0)) }
        let expected = try inputs.map { try ParallelGzip(jobs: 2, blockSize: Self.block).compress($0).0 }
        let results = Collector<(Int, Data)>()
        let failures = Collector<String>()
        DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
            do {
                let (output, _) = try ParallelGzip(jobs: 2, blockSize: Self.block, pool: pool).compress(inputs[i])
                results.append((i, output))
            } catch {
                failures.append(String(describing: error))
            }
        }
        #expect(failures.values.isEmpty)
        let byIndex = Dictionary(uniqueKeysWithValues: results.values)
        for i in inputs.indices { #expect(byIndex[i] == expected[i]) }
    }
}
