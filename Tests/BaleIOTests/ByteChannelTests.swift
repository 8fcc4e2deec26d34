import BaleCore
import BaleIO
import Foundation
import Testing

/// `ByteChannel` between two threads, copying and lending, and `ParallelGzip`'s tee feeding it.
@Suite struct ByteChannelTests {
    /// Reads everything on another thread with `nextChunk` (or `read(into:)`), returning the bytes.
    static func drain(_ channel: ByteChannel, lending: Bool) -> () throws -> Data {
        final class Box: @unchecked Sendable { var result: Result<Data, any Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread {
            box.result = Result {
                var out = Data()
                if lending {
                    while true {
                        let chunk = try channel.nextChunk()
                        if chunk.isEmpty { break }
                        out.append(contentsOf: chunk)
                    }
                } else {
                    var buffer = [UInt8](repeating: 0, count: 1000)
                    while true {
                        let n = try buffer.withUnsafeMutableBytes { try channel.read(into: $0) }
                        if n == 0 { break }
                        out.append(contentsOf: buffer[0 ..< n])
                    }
                }
                return out
            }
            done.signal()
        }.start()
        return {
            done.wait()
            return try box.result!.get()
        }
    }

    @Test(arguments: [true, false])
    func bytesArriveInOrderThroughASmallChannel(lending: Bool) throws {
        let input = GzipTestSupport.mixedData(size: 300_001, seed: 3)
        let channel = ByteChannel(capacity: 4096)     // the writer waits for the reader many times
        let result = Self.drain(channel, lending: lending)
        var offset = 0
        while offset < input.count {
            let n = min(777, input.count - offset)
            try input[offset ..< offset + n].withUnsafeBytes {
                if offset % 2 == 0 { try channel.write($0) } else { try channel.send(ByteBlock(copying: $0)) }
            }
            offset += n
        }
        channel.finish()
        #expect(try result() == input)
    }

    @Test func aFailureReachesTheReaderAndACancelTheWriter() throws {
        let failing = ByteChannel()
        let result = Self.drain(failing, lending: true)
        failing.fail(BaleError(.io, "disk on fire"))
        #expect(throws: BaleError.self) { try result() }

        let cancelled = ByteChannel(capacity: 10)
        cancelled.cancel()
        #expect(throws: BaleError.self) { try Data(count: 100).withUnsafeBytes { try cancelled.write($0) } }
    }

    /// The compressor's tee hands every input block over once, in order, unchanged after compression.
    @Test func parallelGzipTeesItsInputBlocksUncopied() throws {
        let input = GzipTestSupport.mixedData(size: 5 * 65_536 + 17, seed: 11)
        let channel = ByteChannel(capacity: 2 * 65_536)
        let teed = Self.drain(channel, lending: true)
        var offset = 0
        var blocks: [ByteBlock] = []
        let result = try ParallelGzip(jobs: 2, blockSize: 65_536).compress(read: { buffer in
            let n = min(buffer.count, input.count - offset)
            input.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset ..< offset + n])) }
            offset += n
            return n
        }, write: { _ in }, tee: { block in
            blocks.append(block)
            try channel.send(block)
        })
        channel.finish()
        #expect(try teed() == input)
        #expect(blocks.count == 6)
        #expect(blocks.reduce(Data()) { $0 + Data($1.bytes) } == input)
        #expect(result.diffID == GzipTestSupport.sha256(input))
    }
}
