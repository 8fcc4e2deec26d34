import Foundation

/// A fixed number of worker threads taking work items, oldest first, from one bounded queue.
///
/// ```
/// submit ──▶ [ at most `jobs` items waiting ] ──▶ `jobs` threads, each running one item at a time
/// (waits while the queue is full)
/// ```
///
/// So at most 2 × jobs items are in the pool: `jobs` running and `jobs` ready to start the moment a
/// worker is free. The ready ones matter on a busy machine: a submitter that is itself slowed (it reads,
/// hashes and writes the bytes the workers compress) would otherwise leave a worker idle each time it
/// finished before the next item came; with 2 cores, that cost import a sixth of its speed.
/// `submit` blocks while the queue is full, which is the back-pressure the pipelines rely on: a reader
/// cannot race ahead of the workers, and memory stays bounded.
///
/// Threads, not Dispatch: items on a concurrent queue share libdispatch's one-thread-per-core width,
/// and extra threads come only after its starvation delay (about a second, seen for 3 and 5 blocked
/// items on 2 cores), so a pool wider than the core count would not run all its items at once.
/// Work items must not themselves call `submit` (a full pool would then wait on itself). The threads
/// end when the pool is released and its queue has run dry.
public final class WorkPool: @unchecked Sendable {
    // @unchecked: all mutable state is in `Queue`, guarded by its condition.

    /// How many work items may run at the same time.
    public let jobs: Int
    private let queue: Queue

    /// A pool of `jobs` workers (at least 1).
    public init(jobs: Int) {
        self.jobs = max(1, jobs)
        queue = Queue(capacity: self.jobs)
        for index in 0 ..< self.jobs {
            let thread = Thread { [queue] in queue.serve() }
            thread.name = "bale.workpool.\(index)"
            thread.start()
        }
    }

    deinit { queue.close() }

    /// Queues `work` to run on a worker, first waiting (on the calling thread) while `jobs` items are
    /// already waiting.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        queue.put(work)
    }

    /// The queue the workers share; separate from the pool so the threads do not keep the pool alive.
    private final class Queue: @unchecked Sendable {
        private let condition = NSCondition()
        private var items: [@Sendable () -> Void] = []
        private var head = 0
        private var closed = false
        private let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        func put(_ work: @escaping @Sendable () -> Void) {
            condition.lock()
            defer { condition.unlock() }
            while items.count - head >= capacity { condition.wait() }
            if head > 64 {                   // drop taken items now and then, not at every take
                items.removeFirst(head)
                head = 0
            }
            items.append(work)
            condition.broadcast()
        }

        /// A worker's loop: runs items until the queue is closed and empty.
        func serve() {
            while true {
                condition.lock()
                while head == items.count && !closed { condition.wait() }
                if head == items.count {     // closed and drained
                    condition.unlock()
                    return
                }
                let work = items[head]
                items[head] = {}             // release what the item captured
                head += 1
                condition.broadcast()
                condition.unlock()
                work()
            }
        }

        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
