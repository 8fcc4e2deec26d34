import BaleIO
import Dispatch
import Foundation
import Testing

@Suite struct WorkPoolTests {
    /// Counts running items and remembers the peak; the lock is needed because workers update it.
    final class Gauge: @unchecked Sendable {
        private let lock = NSLock()
        private var running = 0
        private var peakValue = 0
        func enter() { lock.withLock { running += 1; peakValue = max(peakValue, running) } }
        func leave() { lock.withLock { running -= 1 } }
        var peak: Int { lock.withLock { peakValue } }
    }

    @Test(arguments: [1, 3, 5])
    func runsExactlyJobsItemsAtOnce(jobs: Int) throws {
        // More workers than this machine has cores: each must still get its own thread.
        let pool = WorkPool(jobs: jobs)
        let gauge = Gauge()
        let arrived = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        for _ in 0..<jobs {
            finished.enter()
            pool.submit {
                gauge.enter()
                arrived.signal()
                _ = release.wait(timeout: .now() + 10)
                gauge.leave()
                finished.leave()
            }
        }
        // All `jobs` items are running together before any is let go.
        var together = 0
        for _ in 0..<jobs where arrived.wait(timeout: .now() + 10) == .success { together += 1 }
        #expect(together == jobs)
        for _ in 0..<jobs { release.signal() }
        #expect(finished.wait(timeout: .now() + 10) == .success)

        // Many short items never exceed `jobs` at once.
        for _ in 0..<(4 * jobs) {
            finished.enter()
            pool.submit {
                gauge.enter()
                usleep(2000)
                gauge.leave()
                finished.leave()
            }
        }
        #expect(finished.wait(timeout: .now() + 30) == .success)
        #expect(gauge.peak == jobs)
    }

    /// While every worker is busy, `jobs` more items are taken at once (ready to start), and the next
    /// `submit` waits until a worker is free: back-pressure with a ready queue.
    @Test(arguments: [1, 2])
    func queuesJobsReadyItemsThenBlocks(jobs: Int) throws {
        let pool = WorkPool(jobs: jobs)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        let busy = DispatchSemaphore(value: 0)
        for _ in 0 ..< jobs {
            finished.enter()
            pool.submit { busy.signal(); _ = release.wait(timeout: .now() + 10); finished.leave() }
        }
        for _ in 0 ..< jobs { #expect(busy.wait(timeout: .now() + 10) == .success) }
        // These fill the queue without waiting.
        for _ in 0 ..< jobs {
            finished.enter()
            pool.submit { finished.leave() }
        }
        // This one must wait for a worker: submit it from another thread and see that it has not returned.
        let submitted = DispatchSemaphore(value: 0)
        finished.enter()
        Thread { pool.submit { finished.leave() }; submitted.signal() }.start()
        #expect(submitted.wait(timeout: .now() + 0.3) == .timedOut)
        for _ in 0 ..< jobs { release.signal() }
        #expect(submitted.wait(timeout: .now() + 10) == .success)
        #expect(finished.wait(timeout: .now() + 10) == .success)
    }
}
