import Dispatch

/// A fixed number of worker slots on a concurrent Dispatch queue, shared by independent compressions
/// (the layers of one image, the images of one save) so that together they never run more than `jobs`
/// CPU-bound work items at once.
///
/// `submit` blocks the submitting thread while every slot is busy. That is the back-pressure the
/// pipelines rely on: a reader cannot race ahead of the workers, and memory stays bounded.
/// Work items must not themselves call `submit` (a full pool would then wait on itself).
public final class WorkPool: Sendable {
    /// How many work items may run at the same time.
    public let jobs: Int
    private let queue: DispatchQueue
    private let slots: DispatchSemaphore

    /// A pool running at most `jobs` items at once (at least 1).
    public init(jobs: Int) {
        self.jobs = max(1, jobs)
        self.queue = DispatchQueue(label: "bale.workpool", qos: .userInitiated, attributes: .concurrent)
        self.slots = DispatchSemaphore(value: self.jobs)
    }

    /// Runs `work` on a worker thread, first waiting (on the calling thread) for a free slot.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        slots.wait()
        queue.async { [slots] in
            work()
            slots.signal()
        }
    }
}
