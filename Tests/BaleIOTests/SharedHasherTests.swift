import BaleCore
import BaleIO
import Foundation
import Testing

/// `SharedHasher`: the digest of the blocks in the order added, whichever threads hash them, with at
/// most `backlog` blocks waiting; and `ByteChannel` doing its work instead of waiting.
@Suite struct SharedHasherTests {
    static func blocks(_ data: Data, size: Int) -> [ByteBlock] {
        stride(from: 0, to: data.count, by: size).map { start in
            data[start ..< min(start + size, data.count)].withUnsafeBytes { ByteBlock(copying: $0) }
        }
    }

    @Test func theProducerAloneHashesEveryBlockInOrder() {
        let data = GzipTestSupport.mixedData(size: 200_003, seed: 11)
        let hasher = SharedHasher(backlog: 2)
        for block in Self.blocks(data, size: 4099) { hasher.add(block) }
        #expect(hasher.finish() == SHA256Hasher.digest(data))
    }

    @Test func nothingAddedIsTheEmptyDigest() {
        #expect(SharedHasher().finish() == SHA256Hasher.digest(Data()))
    }

    /// A counter and a flag shared with helper threads.
    final class Shared: @unchecked Sendable {
        private let lock = NSLock()
        private var _count = 0
        private var _done = false
        var count: Int { lock.withLock { _count } }
        var done: Bool { lock.withLock { _done } }
        func increment() { lock.withLock { _count += 1 } }
        func finish() { lock.withLock { _done = true } }
    }

    /// Three threads hash at once, as fast as they can: still one digest, the right one.
    @Test func helpersOnOtherThreadsKeepTheOrder() {
        let data = GzipTestSupport.mixedData(size: 3_000_017, seed: 12)
        for _ in 0 ..< 5 {
            let hasher = SharedHasher(backlog: 64)
            let stopped = DispatchSemaphore(value: 0)
            let shared = Shared()
            for _ in 0 ..< 2 {
                Thread {
                    while !shared.done {
                        if hasher.hashOne() { shared.increment() }
                    }
                    stopped.signal()
                }.start()
            }
            for block in Self.blocks(data, size: 1000) { hasher.add(block) }
            let digest = hasher.finish()
            shared.finish()
            stopped.wait()
            stopped.wait()
            #expect(digest == SHA256Hasher.digest(data))
            #expect(shared.count > 0, "no helper ever hashed: the test shows nothing")
        }
    }

    /// With nobody helping, `add` hashes on the producer's thread before more than `backlog` blocks wait:
    /// after each `add`, one `hashOne` finds at most `backlog` blocks to hash.
    @Test func theBacklogIsBounded() {
        let data = GzipTestSupport.mixedData(size: 100_000, seed: 13)
        let hasher = SharedHasher(backlog: 3)
        var most = 0
        for block in Self.blocks(data, size: 1000) {
            hasher.add(block)
            // Count what waits by hashing it all, then nothing is left for the next round's count.
            var waiting = 0
            while hasher.hashOne() { waiting += 1 }
            most = max(most, waiting)
        }
        #expect(most == 1, "one block waits after each add, as no one hashed it yet")
        #expect(hasher.finish() == SHA256Hasher.digest(data))

        let unhelped = SharedHasher(backlog: 3)
        for block in Self.blocks(data, size: 1000).prefix(10) { unhelped.add(block) }
        var waiting = 0
        while unhelped.hashOne() { waiting += 1 }
        #expect(waiting == 3)
    }

    /// A writer on a full channel, and a reader on an empty one, run the channel's `whileWaiting` work
    /// instead of sleeping; the bytes still arrive whole and in order.
    @Test func aChannelSideThatWouldWaitHashesInstead() throws {
        let input = GzipTestSupport.mixedData(size: 500_001, seed: 14)
        let hasher = SharedHasher(backlog: 1_000)
        let calls = Shared()
        let channel = ByteChannel(capacity: 4096, whileWaiting: {
            calls.increment()
            return hasher.hashOne()
        })
        let result = ByteChannelTests.drain(channel, lending: true)
        for block in Self.blocks(input, size: 1500) {
            try channel.send(block)
            hasher.add(block)
        }
        channel.finish()
        #expect(try result() == input)
        #expect(hasher.finish() == SHA256Hasher.digest(input))
        #expect(calls.count > 0, "the channel never called its waiting work")
    }
}
