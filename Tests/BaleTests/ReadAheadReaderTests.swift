@testable import Bale
import BaleCore
import Foundation
import Testing

@Suite struct ReadAheadReaderTests {
    /// A reader of `count` bytes in reads of at most 1000, that fails after `failAt` bytes when given,
    /// and counts its `close` calls.
    final class Counted: BlobReader, @unchecked Sendable {
        let count: Int
        let failAt: Int?
        var offset = 0
        var closes = 0
        init(count: Int, failAt: Int? = nil) {
            self.count = count
            self.failAt = failAt
        }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            if let failAt, offset >= failAt { throw BaleError(.io, "file f: gone") }
            let n = min(buffer.count, 1000, count - offset)
            for i in 0..<n { buffer[i] = UInt8(truncatingIfNeeded: (offset + i) &* 31) }
            offset += n
            return n
        }
        func close() { closes += 1 }
    }

    static func drain(_ reader: any BlobReader) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 70_000)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }

    @Test(arguments: [0, 1, 999, 1 << 20, (1 << 20) + 1, 9_000_000])
    func passesEveryByteInOrder(count: Int) throws {
        let base = Counted(count: count)
        let reader = ReadAheadReader(base)
        let bytes = try Self.drain(reader)
        #expect(bytes == (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        reader.close()
        #expect(base.closes == 1)
    }

    @Test func theBaseReadersErrorReachesTheReaderAsItIs() throws {
        let reader = ReadAheadReader(Counted(count: 5_000_000, failAt: 2_500_000))
        #expect(throws: BaleError.self) { try Self.drain(reader) }
        do { _ = try Self.drain(reader) } catch let error as BaleError { #expect(error.message == "file f: gone") }
        reader.close()
    }

    @Test func closingEarlyStopsTheReadingThread() throws {
        // 64 MiB that nobody reads: the thread waits on a full queue until close cancels it.
        let base = Counted(count: 64 << 20)
        let reader = ReadAheadReader(base)
        var first = [UInt8](repeating: 0, count: 10)
        _ = try first.withUnsafeMutableBytes { try reader.read(into: $0) }
        reader.close()
        #expect(base.closes == 1)
        #expect(base.offset < 16 << 20)
    }
}
