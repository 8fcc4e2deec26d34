import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct XzCompressorTests {
    static let block = 64 * 1024

    /// `xz -t` accepts `compressed` and `xz -dc` gives back `input`.
    func systemXzReads(_ compressed: Data, as input: Data) throws {
        let file = try GzipTestSupport.temporaryFile(compressed, suffix: ".xz")
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try GzipTestSupport.run("/usr/bin/xz", ["-t", file.path]).0 == 0)
        let (status, output) = try GzipTestSupport.run("/usr/bin/xz", ["-dc", file.path])
        #expect(status == 0)
        #expect(output == input)
    }

    @Test(arguments: [0, 1, block, 5 * block + 123])
    func sameBytesForEveryJobsValueAndValidXz(size: Int) throws {
        let input = GzipTestSupport.mixedData(size: size, seed: UInt64(size) + 3)
        let (reference, result) = try XzCompressor(preset: 1, jobs: 1, blockSize: Self.block).compress(input)
        for jobs in [2, 3] {
            let (output, other) = try XzCompressor(preset: 1, jobs: jobs, blockSize: Self.block).compress(input)
            #expect(output == reference, "jobs \(jobs) differs from jobs 1 at size \(size)")
            #expect(other == result)
        }
        #expect(result.uncompressedSize == Int64(size))
        #expect(result.compressedSize == Int64(reference.count))
        #expect(result.diffID == GzipTestSupport.sha256(input))
        #expect(result.digest == GzipTestSupport.sha256(reference))
        try systemXzReads(reference, as: input)
    }

    @Test func defaultSettingsRoundTrip() throws {
        let input = GzipTestSupport.mixedData(size: 2 * (1 << 20) + 7, seed: 77)
        let (output, result) = try XzCompressor(jobs: 2).compress(input)
        #expect(Array(output.prefix(6)) == [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])
        #expect(result.digest == GzipTestSupport.sha256(output))
        try systemXzReads(output, as: input)
    }

    @Test func errorsPropagate() throws {
        let usage = #expect(throws: BaleError.self) { try XzCompressor(preset: 10, jobs: 1).compress(Data()) }
        #expect(usage?.code == .usage)

        var calls = 0
        let readError = #expect(throws: InjectedError.self) {
            try XzCompressor(preset: 1, jobs: 2, blockSize: Self.block).compress(read: { buffer in
                calls += 1
                if calls == 4 { throw InjectedError(where_: "read") }
                buffer.initializeMemory(as: UInt8.self, repeating: UInt8(calls))
                return buffer.count
            }, write: { _ in }, progress: nil)
        }
        #expect(readError == InjectedError(where_: "read"))

        let input = GzipTestSupport.mixedData(size: 20 * Self.block, seed: 6)
        var offset = 0
        let writeError = #expect(throws: InjectedError.self) {
            try XzCompressor(preset: 1, jobs: 2, blockSize: Self.block).compress(read: { buffer in
                let n = min(buffer.count, input.count - offset)
                input.withUnsafeBytes { src in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset ..< offset + n]))
                }
                offset += n
                return n
            }, write: { _ in throw InjectedError(where_: "write") }, progress: nil)
        }
        #expect(writeError == InjectedError(where_: "write"))
    }
}
