import BaleCore
import BaleIO
import Foundation
import Testing

/// `HashingCopy`: the bytes and the digest, whatever the stream's length against the block size, and
/// each way the copy must fail.
@Suite struct HashingCopyTests {
    static let blockSize = 4096

    /// A source handing out `data` in uneven pieces (so blocks are filled by several reads), failing
    /// with `failure` once `failAfter` bytes have been read.
    final class PieceSource: ByteSource {
        let data: Data
        var offset = 0
        var pieces = [1, 1000, 3000, 5000, 77]
        var failAfter: Int?
        var failure: (any Error)?
        /// Threads the reads ran on.
        var threads = Set<ObjectIdentifier>()

        init(_ data: Data, failAfter: Int? = nil, failure: (any Error)? = nil) {
            self.data = data
            self.failAfter = failAfter
            self.failure = failure
        }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            threads.insert(ObjectIdentifier(Thread.current))
            if let failAfter, offset >= failAfter, let failure { throw failure }
            let piece = pieces[offset % pieces.count]
            let n = min(buffer.count, piece, data.count - offset)
            guard n > 0 else { return 0 }
            data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: offset ..< offset + n)
            offset += n
            return n
        }
    }

    struct DiskOnFire: Error {}

    @Test(arguments: [0, 1, blockSize - 1, blockSize, blockSize + 1, 2 * blockSize, 37 * blockSize + 17])
    func copiesAndHashesEveryLength(count: Int) throws {
        let data = patternData(count: count)
        let sink = DataSink()
        let result = try HashingCopy.copy(from: PieceSource(data), to: sink, name: "blob",
                                          blockSize: Self.blockSize)
        #expect(sink.data == data)
        #expect(result.digest == SHA256Hasher.digest(data))
        #expect(result.size == Int64(count))
        // With the expected digest and size given, the same copy passes.
        let checked = DataSink()
        try HashingCopy.copy(from: PieceSource(data), to: checked, expected: (SHA256Hasher.digest(data), Int64(count)),
                             name: "blob", blockSize: Self.blockSize)
        #expect(checked.data == data)
    }

    @Test func theSourceAndTheSinkAreUsedOnTheCallingThreadOnly() throws {
        let source = PieceSource(patternData(count: 10 * Self.blockSize))
        var sinkThreads = Set<ObjectIdentifier>()
        try HashingCopy.copy(from: source, to: ClosureByteSink { _ in sinkThreads.insert(ObjectIdentifier(Thread.current)) },
                             name: "blob", blockSize: Self.blockSize)
        #expect(source.threads == [ObjectIdentifier(Thread.current)])
        #expect(sinkThreads == [ObjectIdentifier(Thread.current)])
    }

    /// The sink is never written once `copy` has thrown: the caller then removes what it wrote, and a
    /// late write would land in a file that is gone or a tar member that is over.
    @Test func theSinkIsNotWrittenAfterTheCopyFails() throws {
        final class SlowSink: ByteSink, @unchecked Sendable {
            let lock = NSLock()
            var writes = 0
            func write(_ bytes: UnsafeRawBufferPointer) throws {
                usleep(2000)
                lock.withLock { writes += 1 }
            }
        }
        let sink = SlowSink()
        let data = patternData(count: 20 * Self.blockSize)
        #expect(throws: DiskOnFire.self) {
            try HashingCopy.copy(from: PieceSource(data, failAfter: 8 * Self.blockSize, failure: DiskOnFire()),
                                 to: sink, name: "blob", blockSize: Self.blockSize)
        }
        let atThrow = sink.lock.withLock { sink.writes }
        usleep(50_000)
        #expect(sink.lock.withLock { sink.writes } == atThrow)
        #expect(atThrow <= 8)
    }

    @Test(arguments: [100, 10 * blockSize])
    func aDigestMismatchFails(count: Int) throws {
        let data = patternData(count: count)
        var tampered = data
        tampered[count / 2] ^= 1
        let claimed = SHA256Hasher.digest(data)
        let error = #expect(throws: BaleError.self) {
            try HashingCopy.copy(from: PieceSource(tampered), to: DataSink(), expected: (claimed, Int64(count)),
                                 name: "save: \(claimed)", blockSize: Self.blockSize)
        }
        #expect(error?.code == .integrity)
        #expect(error?.message == "save: \(claimed): content does not match the digest (it hashes to \(SHA256Hasher.digest(tampered)))")
    }

    @Test func moreBytesThanExpectedFailBeforeTheExtraBlockIsWritten() throws {
        let data = patternData(count: 10 * Self.blockSize)
        let sink = DataSink()
        let error = #expect(throws: BaleError.self) {
            try HashingCopy.copy(from: PieceSource(data), to: sink, expected: (SHA256Hasher.digest(data), 5000),
                                 name: "blob", blockSize: Self.blockSize)
        }
        #expect(error?.code == .integrity)
        #expect(error?.message == "blob: more than the 5000 bytes its descriptor gives")
        #expect(sink.data.count <= 5000)
    }

    @Test func fewerBytesThanExpectedFail() throws {
        let data = patternData(count: 3 * Self.blockSize)
        let error = #expect(throws: BaleError.self) {
            try HashingCopy.copy(from: PieceSource(data), to: DataSink(),
                                 expected: (SHA256Hasher.digest(data), Int64(data.count + 1)), name: "blob",
                                 blockSize: Self.blockSize)
        }
        #expect(error?.code == .integrity)
        #expect(error?.message == "blob: \(data.count) bytes, its descriptor gives \(data.count + 1)")
    }

    @Test(arguments: [10, 5 * blockSize + 10])
    func aReadErrorIsRethrownAsItCame(failAfter: Int) throws {
        let data = patternData(count: 10 * Self.blockSize)
        #expect(throws: DiskOnFire.self) {
            try HashingCopy.copy(from: PieceSource(data, failAfter: failAfter, failure: DiskOnFire()), to: DataSink(),
                                 expected: (SHA256Hasher.digest(data), Int64(data.count)), name: "blob",
                                 blockSize: Self.blockSize)
        }
    }

    @Test func aWriteErrorIsRethrownAsItCame() throws {
        let data = patternData(count: 10 * Self.blockSize)
        var writes = 0
        let sink = ClosureByteSink { _ in
            writes += 1
            if writes == 3 { throw DiskOnFire() }
        }
        #expect(throws: DiskOnFire.self) {
            try HashingCopy.copy(from: PieceSource(data), to: sink, name: "blob", blockSize: Self.blockSize)
        }
        #expect(writes == 3)
    }
}
