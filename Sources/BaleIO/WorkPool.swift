import Dispatch
import Foundation

/// A fixed number of workers, shared by independent compressions (the layers of one image, the images
/// of one save) so that together they never run more than `jobs` CPU-bound work items at once.
///
/// Each worker is a serial Dispatch queue. Serial queues are "overcommit" in libdispatch: each gets a
/// thread at once, whatever else the process runs. Items on one concurrent queue share the global
/// pool's one-thread-per-core width instead, and extra threads come only after libdispatch's
/// starvation delay (in `WorkPoolTests`, about a second for 3 and 5 blocked items on 2 cores).
///
/// `submit` blocks the submitting thread while every worker is busy. That is the back-pressure the
/// pipelines rely on: a reader cannot race ahead of the workers, and memory stays bounded.
/// Work items must not themselves call `submit` (a full pool would then wait on itself).
public final class WorkPool: @unchecked Sendable {
    // @unchecked: `idle` is mutable and guarded by `lock`; everything else is immutable.

    /// How many work items may run at the same time.
    public let jobs: Int
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var idle: [DispatchQueue]

    /// A pool of `jobs` workers (at least 1).
    public init(jobs: Int) {
        self.jobs = max(1, jobs)
        self.slots = DispatchSemaphore(value: self.jobs)
        self.idle = (0..<self.jobs).map { DispatchQueue(label: "bale.workpool.\($0)", qos: .userInitiated) }
    }

    /// Runs `work` on an idle worker, first waiting (on the calling thread) for one to be free.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        slots.wait()
        // The semaphore admits at most `jobs` holders, so an idle worker is always there.
        let worker = lock.withLock { idle.removeLast() }
        worker.async {
            work()
            self.lock.withLock { self.idle.append(worker) }
            self.slots.signal()
        }
    }
}
