import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct DecompressingSourceTests {
    /// Everything `DecompressingSource` gives for `data`, read `chunk` bytes at a time.
    static func drain(_ data: Data, name: String = "input.tgz", chunk: Int = 64 * 1024) throws -> (Data, TarCompression) {
        let source = try DecompressingSource(source: DataByteSource(data), name: name)
        var output = Data()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try source.read(into: buffer)
            if n == 0 { break }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
        }
        return (output, source.compression)
    }

    /// `zcat` of `data`, from a file.
    static func zcat(_ data: Data) throws -> Data {
        let file = try GzipTestSupport.temporaryFile(data)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, out) = try GzipTestSupport.run("/usr/bin/zcat", [file.path])
        #expect(status == 0)
        return out
    }

    @Test func aCorruptCRCIsRefusedNamingTheInput() throws {
        var compressed = try GzipTestSupport.gzipWithSystem(GzipTestSupport.mixedData(size: 200_000, seed: 3))
        compressed[compressed.count - 8] ^= 0x01        // first byte of the CRC-32
        let error = #expect(throws: BaleError.self) { try Self.drain(compressed, name: "/tmp/c.tgz") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("/tmp/c.tgz: ") == true, "\(String(describing: error))")
        #expect(error?.message.contains("CRC-32 or size check failed") == true, "\(String(describing: error))")
    }

    @Test func aCorruptSizeIsRefusedNamingTheInput() throws {
        var compressed = try GzipTestSupport.gzipWithSystem(GzipTestSupport.mixedData(size: 200_000, seed: 4))
        compressed[compressed.count - 4] ^= 0x01        // low byte of ISIZE
        let error = #expect(throws: BaleError.self) { try Self.drain(compressed, name: "layer.tar.gz") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("layer.tar.gz: ") == true, "\(String(describing: error))")
        #expect(error?.message.contains("CRC-32 or size check failed") == true, "\(String(describing: error))")
    }

    @Test func aCorruptLastMemberIsRefused() throws {
        var second = try GzipTestSupport.gzipWithSystem(Data("second member".utf8))
        second[second.count - 6] ^= 0x80
        let compressed = try GzipTestSupport.gzipWithSystem(GzipTestSupport.mixedData(size: 50_000)) + second
        let error = #expect(throws: BaleError.self) { try Self.drain(compressed) }
        #expect(error?.message.contains("gzip member 2") == true, "\(String(describing: error))")
    }

    @Test(arguments: [1, 7, 4096, 256 * 1024])
    func aGoodMultiMemberGzipGivesWhatZcatGives(chunk: Int) throws {
        let a = GzipTestSupport.mixedData(size: 150_000, seed: 9)
        let b = GzipTestSupport.mixedData(size: 70_001, seed: 10)
        let compressed = try GzipTestSupport.gzipWithSystem(a, level: 9)
            + ParallelGzip(jobs: 2, blockSize: 16 * 1024).compress(b).0
            + ParallelGzip(jobs: 1).compress(Data()).0
            + GzipTestSupport.gzipWithSystem(Data("tail".utf8))
        let (output, compression) = try Self.drain(compressed, chunk: chunk)
        #expect(compression == .gzip)
        #expect(output == a + b + Data("tail".utf8))
        #expect(output == (try Self.zcat(compressed)))
    }

    @Test func trailingGarbageAndTruncationAreRefused() throws {
        let good = try GzipTestSupport.gzipWithSystem(GzipTestSupport.mixedData(size: 10_000))
        for bad in [good + Data("junk".utf8), good + Data(count: 512), good.prefix(good.count - 1)] {
            let error = #expect(throws: BaleError.self) { try Self.drain(bad) }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.hasPrefix("input.tgz: ") == true, "\(String(describing: error))")
        }
    }

    @Test func plainAndEmptyInputPassThrough() throws {
        let plain = GzipTestSupport.mixedData(size: 100_000, seed: 5)
        let (output, compression) = try Self.drain(plain, chunk: 4096)
        #expect(output == plain)
        #expect(compression == .none)
        let (empty, emptyCompression) = try Self.drain(Data())
        #expect(empty.isEmpty)
        #expect(emptyCompression == .none)
        // One byte: too short to sniff a gzip magic, still passed through.
        #expect(try Self.drain(Data([0x1f])).0 == Data([0x1f]))
    }

    /// libarchive's xz filter (liblzma) does check the block check: the same corruption experiment as for
    /// gzip, on the CRC-64 that `xz` writes after the compressed data.
    @Test func xzWithACorruptCheckIsRefusedByLibarchive() throws {
        let input = GzipTestSupport.mixedData(size: 200_000, seed: 6)
        let file = try GzipTestSupport.temporaryFile(input, suffix: ".raw")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, good) = try GzipTestSupport.run("/usr/bin/xz", ["-c", "--check=crc64"], stdinFile: file)
        try #require(status == 0)
        let (output, compression) = try Self.drain(good)
        #expect(compression == .xz)
        #expect(output == input)
        // Stream footer (12 bytes): CRC32, Backward Size (index size / 4 - 1, little-endian), flags, "YZ".
        // The index precedes it; the block's 8-byte CRC-64 precedes the index.
        let footer = good.suffix(12)
        let backward = footer.dropFirst(4).prefix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        let indexSize = (backward + 1) * 4
        let checkEnd = good.count - 12 - indexSize
        var bad = good
        bad[checkEnd - 1] ^= 0x01
        let error = #expect(throws: BaleError.self) { try Self.drain(bad, name: "layer.tar.xz") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("layer.tar.xz: ") == true, "\(String(describing: error))")
    }
}
