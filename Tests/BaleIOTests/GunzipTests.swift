import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct GunzipTests {
    @Test(arguments: [0, 1, 70_000, 3 * (1 << 20) + 17])
    func roundTripGivesTheSameDigests(size: Int) throws {
        let input = GzipTestSupport.mixedData(size: size, seed: 21)
        let (compressed, packed) = try ParallelGzip(jobs: 2, blockSize: 64 * 1024).compress(input)
        // A small buffer forces many reads and many output chunks.
        let (output, unpacked) = try Gunzip(bufferSize: 4096).decompress(compressed)
        #expect(output == input)
        #expect(unpacked == packed)
    }

    @Test func readsSystemGzipOutputWithFileName() throws {
        let input = GzipTestSupport.mixedData(size: 200_000, seed: 4)
        let file = try GzipTestSupport.temporaryFile(input, suffix: ".txt")
        defer { try? FileManager.default.removeItem(at: file) }
        // Without -n gzip stores the name and mtime: header fields our writer never produces.
        let (status, compressed) = try GzipTestSupport.gzip(["-9", "-c", file.path])
        #expect(status == 0)
        #expect(compressed[3] & 0x08 != 0, "FNAME flag expected")
        let (output, result) = try Gunzip().decompress(compressed)
        #expect(output == input)
        #expect(result.diffID == GzipTestSupport.sha256(input))
        #expect(result.digest == GzipTestSupport.sha256(compressed))
        #expect(result.compressedSize == Int64(compressed.count))
    }

    @Test func multiMemberInputIsConcatenated() throws {
        let a = GzipTestSupport.mixedData(size: 100_000, seed: 1)
        let b = GzipTestSupport.mixedData(size: 50_001, seed: 2)
        let c = Data("tail".utf8)
        let members = try GzipTestSupport.gzipWithSystem(a)
            + ParallelGzip(jobs: 2, blockSize: 16 * 1024).compress(b).0
            + ParallelGzip(jobs: 1).compress(Data()).0
            + GzipTestSupport.gzipWithSystem(c)
        for bufferSize in [4096, 1 << 20] {
            let (output, result) = try Gunzip(bufferSize: bufferSize).decompress(members)
            #expect(output == a + b + c)
            #expect(result.uncompressedSize == Int64(a.count + b.count + c.count))
        }
    }

    @Test func memberBoundariesAtEveryReadSize() throws {
        let a = GzipTestSupport.mixedData(size: 30_000, seed: 5)
        let b = GzipTestSupport.mixedData(size: 20_000, seed: 6)
        let members = try ParallelGzip(level: 1, jobs: 1).compress(a).0
            + GzipTestSupport.gzipWithSystem(b, level: 9)
            + ParallelGzip(level: 6, jobs: 2, blockSize: 4096).compress(b).0
        for chunk in [1, 7, 8, 9, 4095, 65_536] {
            var offset = 0
            var output = Data()
            let result = try Gunzip(bufferSize: 4096).decompress(read: { buffer in
                let n = min(chunk, buffer.count, members.count - offset)
                members.withUnsafeBytes { src in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
                }
                offset += n
                return n
            }, write: { output.append(contentsOf: $0) }, progress: nil)
            #expect(output == a + b + b, "read size \(chunk)")
            #expect(result.compressedSize == Int64(members.count))
        }
    }

    @Test func readsEveryEngine() throws {
        let input = GzipTestSupport.mixedData(size: 200_000, seed: 12)
        for engine in [DeflateEngine.isal(level: 0), .isal(level: 1), .isal(level: 2), .isal(level: 3),
                       .zlib(level: 1), .zlib(level: 6), .zlib(level: 9)] {
            let (compressed, packed) = try ParallelGzip(engine: engine, jobs: 2, blockSize: 32 * 1024).compress(input)
            let (output, unpacked) = try Gunzip(bufferSize: 4096).decompress(compressed)
            #expect(output == input, "\(engine)")
            #expect(unpacked == packed, "\(engine)")
        }
    }

    @Test func badInputIsInvalidInput() throws {
        let input = GzipTestSupport.mixedData(size: 100_000, seed: 8)
        let good = try ParallelGzip(jobs: 1).compress(input).0
        var badCRC = good
        badCRC[badCRC.count - 8] ^= 0xff
        var badSize = good
        badSize[badSize.count - 1] ^= 0x01
        let cases: [(String, Data)] = [
            ("empty", Data()),
            ("not gzip", Data("hello, world".utf8)),
            ("truncated", good.prefix(good.count - 3)),
            ("truncated header", good.prefix(5)),
            ("bad crc", badCRC),
            ("bad size", badSize),
            ("trailing zeros", good + Data(count: 16)),
            ("trailing garbage", good + Data("junk".utf8)),
        ]
        for (name, data) in cases {
            let error = #expect(throws: BaleError.self, "\(name)") { try Gunzip().decompress(data) }
            #expect(error?.code == .invalidInput, "\(name): \(String(describing: error))")
        }
    }

    @Test func writeAndReadErrorsPropagate() throws {
        let compressed = try ParallelGzip(jobs: 1).compress(GzipTestSupport.mixedData(size: 500_000)).0
        var offset = 0
        let writeError = #expect(throws: InjectedError.self) {
            try Gunzip(bufferSize: 4096).decompress(read: { buffer in
                let n = min(buffer.count, compressed.count - offset)
                compressed.withUnsafeBytes { src in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
                }
                offset += n
                return n
            }, write: { _ in throw InjectedError(where_: "write") }, progress: nil)
        }
        #expect(writeError == InjectedError(where_: "write"))
        let readError = #expect(throws: InjectedError.self) {
            try Gunzip().decompress(read: { _ in throw InjectedError(where_: "read") }, write: { _ in }, progress: nil)
        }
        #expect(readError == InjectedError(where_: "read"))
    }

    @Test(arguments: [1, 3, 4096, 1 << 20])
    func gunzipSourceFillsTheCallersBufferAtAnySize(bufferSize: Int) throws {
        let a = GzipTestSupport.mixedData(size: 90_000, seed: 31)
        let b = GzipTestSupport.mixedData(size: 10_000, seed: 32)
        let compressed = try GzipTestSupport.gzipWithSystem(a) + ParallelGzip(jobs: 2, blockSize: 8192).compress(b).0
        let source = GunzipSource(source: DataByteSource(compressed), name: "x.gz", bufferSize: 4096)
        var output = Data()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try source.read(into: buffer)
            #expect(n <= bufferSize)
            if n == 0 { break }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
        }
        #expect(output == a + b)
        #expect(source.bytesIn == Int64(compressed.count))
        #expect(source.bytesOut == Int64(a.count + b.count))
        #expect(try source.read(into: buffer) == 0, "stays at the end")
    }

    @Test func gunzipSourceRepeatsItsErrorAndNamesItsInput() throws {
        var compressed = try GzipTestSupport.gzipWithSystem(GzipTestSupport.mixedData(size: 20_000, seed: 33))
        compressed[compressed.count - 8] ^= 0x10
        let source = GunzipSource(source: DataByteSource(compressed), name: "bad.gz")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        let first = #expect(throws: BaleError.self) { while try source.read(into: buffer) > 0 {} }
        #expect(first?.message.hasPrefix("bad.gz: gzip member 1 is corrupt") == true, "\(String(describing: first))")
        #expect(first?.message.hasSuffix("CRC-32 or size check failed") == true)
        let again = #expect(throws: BaleError.self) { _ = try source.read(into: buffer) }
        #expect(again?.message == first?.message)
    }
}
