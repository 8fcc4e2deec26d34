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

    /// Two helper threads hash at once while the producer adds, and the producer finishes: still one
    /// digest, the right one. Helpers that find nothing sleep briefly rather than spin, so the test
    /// behaves on a loaded machine.
    @Test func helpersOnOtherThreadsKeepTheOrder() {
        let data = GzipTestSupport.mixedData(size: 3_000_017, seed: 12)
        for backlog in [1, 8, 64] {
            let hasher = SharedHasher(backlog: backlog)
            let stopped = DispatchSemaphore(value: 0)
            let shared = Shared()
            for _ in 0 ..< 2 {
                Thread {
                    while !shared.done {
                        if hasher.hashOne() { shared.increment() } else { usleep(20) }
                    }
                    stopped.signal()
                }.start()
            }
            for block in Self.blocks(data, size: 1000) { hasher.add(block) }
            let digest = hasher.finish()
            shared.finish()
            stopped.wait()
            stopped.wait()
            #expect(digest == SHA256Hasher.digest(data), "backlog \(backlog)")
        }
    }

    /// Blocks queued first, then hashed by two helpers racing for them, the rest by `finish`: the
    /// helpers did hash (one of them always gets the first block), and the digest is still right.
    @Test func helpersRacingForQueuedBlocksKeepTheOrder() {
        let data = GzipTestSupport.mixedData(size: 1_000_003, seed: 15)
        let blocks = Self.blocks(data, size: 1000)
        let hasher = SharedHasher(backlog: blocks.count)     // the producer never hashes
        for block in blocks { hasher.add(block) }
        let shared = Shared()
        let stopped = DispatchSemaphore(value: 0)
        for _ in 0 ..< 2 {
            Thread {
                while hasher.hashOne() { shared.increment() }
                stopped.signal()
            }.start()
        }
        stopped.wait()
        stopped.wait()
        #expect(shared.count > 0)
        #expect(hasher.finish() == SHA256Hasher.digest(data))
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

    /// Work that finds nothing to do must not cost a wake-up: the side that ran it checks its condition
    /// again before it waits. Here the work only yields, which leaves the other side time to change the
    /// channel and signal in between; a channel that waited without checking again hung on both sides
    /// within a few thousand blocks.
    @Test func aSideWhoseWaitingWorkFindsNothingStillWakes() throws {
        let input = GzipTestSupport.mixedData(size: 2_000_000, seed: 16)
        let channel = ByteChannel(capacity: 1000, whileWaiting: {
            sched_yield()
            return false
        })
        let result = ByteChannelTests.drain(channel, lending: true)
        let sent = DispatchSemaphore(value: 0)
        let blocks = Self.blocks(input, size: 100)
        Thread {
            for block in blocks { try? channel.send(block) }
            channel.finish()
            sent.signal()
        }.start()
        let finished = sent.wait(timeout: .now() + 120) == .success
        #expect(finished, "the channel hung: a wake-up was lost")
        guard finished else {
            channel.fail(BaleError(.internal, "test timed out"))   // let both threads end
            return
        }
        #expect(try result() == input)
    }
}
