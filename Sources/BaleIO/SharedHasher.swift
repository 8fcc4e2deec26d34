import BaleCore
import Foundation

/// The SHA-256 of a stream of blocks, computed by whichever of two threads would otherwise wait.
///
/// A layer read as a tar keeps two threads busy: the inflater, and the reader behind a `ByteChannel`
/// (libarchive and the extractor for `export`, the store's writer for `load`). They take turns being the
/// slower one: over large files the extractor waits for the inflater, over many small ones the inflater
/// waits for room in the channel. The DiffID's SHA-256 (a third of the inflater's work) fits in those
/// waits:
///
/// ```
/// inflater   inflate ─ send ─ add ─ inflate ─ send (full: hash queued blocks) ─ … ─ finish (hash the rest)
///                        │                          ▲
/// channel    [ blocks ] ─┼──────────────────────────┘
///                        ▼
/// reader     read (empty: hash queued blocks) ─ extract ─ read …
/// ```
///
/// A third thread for the hash was measured slower (`make bench`'s export: 3.0 s against 2.8 with the
/// same CPU time): three busy threads on two cores get two thirds of a core each, and the extractor that
/// sets the pace slows with them. Running that thread at a low priority was as fast, but on a loaded
/// machine it would starve.
///
/// The blocks are shared, never copied: the hasher keeps a reference until it has hashed one, and no
/// one writes a block once it is added. At most `backlog` blocks wait; past that, `add` hashes on the
/// producer's thread before it returns, which bounds the memory whoever is slower. Blocks are hashed
/// in the order added, one at a time.
public final class SharedHasher: @unchecked Sendable {
    // @unchecked Sendable: `pending` and `hashing` are guarded by `condition`; `state` is touched only by
    // the one thread that set `hashing` (or by `finish` once nothing is pending and nobody hashes).
    private let condition = NSCondition()
    private var pending: [ByteBlock] = []
    private var hashing = false
    private var state = SHA256Hasher()
    private var finished = false
    /// Blocks that may wait before `add` hashes on its caller's thread.
    public let backlog: Int

    /// A hasher whose `add` lets up to `backlog` blocks wait.
    public init(backlog: Int = 8) {
        self.backlog = max(backlog, 1)
    }

    /// Queues `block` (filled, and never written again); hashes queued blocks first while more than
    /// `backlog` wait.
    public func add(_ block: ByteBlock) {
        condition.lock()
        pending.append(block)
        condition.unlock()
        while true {
            condition.lock()
            guard pending.count > backlog else { condition.unlock(); return }
            if hashing {
                condition.wait()
                condition.unlock()
                continue
            }
            condition.unlock()
            hashOne()
        }
    }

    /// Hashes the oldest queued block, unless another thread is hashing or nothing waits; true when it
    /// did. For a thread that would otherwise wait (`ByteChannel`'s `whileWaiting`).
    @discardableResult
    public func hashOne() -> Bool {
        condition.lock()
        guard !hashing, !finished, !pending.isEmpty else {
            condition.unlock()
            return false
        }
        hashing = true
        let block = pending.removeFirst()
        condition.unlock()
        state.update(block.bytes)
        condition.lock()
        hashing = false
        condition.broadcast()
        condition.unlock()
        return true
    }

    /// Hashes what still waits and returns the digest of every block added. Call once, after the last `add`.
    public func finish() -> BaleCore.Digest {
        while true {
            condition.lock()
            while hashing { condition.wait() }
            if pending.isEmpty {
                finished = true
                condition.unlock()
                return state.finalize()
            }
            condition.unlock()
            hashOne()
        }
    }
}
