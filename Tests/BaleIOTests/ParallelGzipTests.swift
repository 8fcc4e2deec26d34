import BaleCore
import BaleIO
import Dispatch
import Foundation
import Testing

@Suite struct ParallelGzipTests {
    static let block = 64 * 1024
    static let sizes = [0, 1, block - 1, block, block + 1, 5 * block + 123]

    @Test(arguments: sizes)
    func sameBytesForEveryJobsValueAndValidGzip(size: Int) throws {
        let input = GzipTestSupport.mixedData(size: size, seed: UInt64(size) + 7)
        let (reference, result) = try ParallelGzip(jobs: 1, blockSize: Self.block).compress(input)
        for jobs in [2, 3, 8] {
            let (output, other) = try ParallelGzip(jobs: jobs, blockSize: Self.block).compress(input)
            #expect(output == reference, "jobs \(jobs) differs from jobs 1 at size \(size)")
            #expect(other == result)
        }
        #expect(result.uncompressedSize == Int64(size))
        #expect(result.compressedSize == Int64(reference.count))
        #expect(result.diffID == GzipTestSupport.sha256(input))
        #expect(result.digest == GzipTestSupport.sha256(reference))
        #expect(try GzipTestSupport.gzipAccepts(reference))
        let roundTrip = try GzipTestSupport.gunzipWithSystem(reference)
        #expect(GzipTestSupport.sha256(roundTrip) == result.diffID)
    }

    @Test func defaultBlockSizeSeveralMiBCloseToGzip() throws {
        let input = GzipTestSupport.mixedData(size: 5 * (1 << 20) + 4321, seed: 42)
        let (one, result) = try ParallelGzip(jobs: 1).compress(input)
        let (two, _) = try ParallelGzip(jobs: 2).compress(input)
        #expect(one == two)
        #expect(try GzipTestSupport.gzipAccepts(one))
        #expect(GzipTestSupport.sha256(try GzipTestSupport.gunzipWithSystem(one)) == result.diffID)
        let gzip6 = try GzipTestSupport.gzipWithSystem(input, level: 6)
        #expect(Double(one.count) <= 1.08 * Double(gzip6.count), "\(one.count) vs gzip -6 \(gzip6.count)")
    }

    @Test func fixedHeaderAndEmptyStream() throws {
        let (empty, result) = try ParallelGzip(jobs: 2).compress(Data())
        // header, one final empty fixed-Huffman block (03 00), CRC 0, ISIZE 0
        #expect(Array(empty) == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(result.diffID == GzipTestSupport.sha256(Data()))
        let (fast, _) = try ParallelGzip(level: 1, jobs: 1).compress(Data("x".utf8))
        let (best, _) = try ParallelGzip(level: 9, jobs: 1).compress(Data("x".utf8))
        #expect(fast[8] == 4)
        #expect(best[8] == 2)
    }

    @Test func levelsChangeSizeAndAllDecompress() throws {
        let input = GzipTestSupport.mixedData(size: 300_000, seed: 3)
        var sizes: [Int] = []
        for level in [1, 6, 9] {
            let (output, result) = try ParallelGzip(level: level, jobs: 2, blockSize: Self.block).compress(input)
            #expect(try GzipTestSupport.gunzipWithSystem(output) == input)
            #expect(result.compressedSize == Int64(output.count))
            sizes.append(output.count)
        }
        #expect(sizes[0] > sizes[2], "level 1 should be larger than level 9: \(sizes)")
    }

    @Test func invalidSettingsAreUsageErrors() throws {
        for gz in [ParallelGzip(level: 0, jobs: 1), ParallelGzip(level: 10, jobs: 1),
                   ParallelGzip(jobs: 1, blockSize: 10)] {
            let error = #expect(throws: BaleError.self) { try gz.compress(Data("abc".utf8)) }
            #expect(error?.code == .usage)
        }
    }

    @Test func outputDoesNotDependOnReadSizes() throws {
        let input = GzipTestSupport.mixedData(size: 3 * Self.block + 999, seed: 11)
        let (reference, _) = try ParallelGzip(jobs: 2, blockSize: Self.block).compress(input)
        var rng = GzipTestSupport.SplitMix64(seed: 5)
        var offset = 0
        var output = Data()
        _ = try ParallelGzip(jobs: 3, blockSize: Self.block).compress(read: { buffer in
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
