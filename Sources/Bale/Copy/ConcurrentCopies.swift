import BaleCore
import Foundation

/// Copies that run at the same time into one location (`bale sync`, an image per copy), each its own
/// `Copier.copy` with its own destination object, made to behave as one copy would:
///
/// - **One budget.** At most `limit` blobs move at once across all the copies (each copy's own
///   workers take a permit per blob), so running images side by side never multiplies `--jobs`.
/// - **A blob fetched once.** A copy claims, in one step, every blob it lacks that no other open copy
///   has claimed; the blobs another open copy claimed first it borrows: it waits until that copy has
///   committed or aborted, then asks its destination again and copies only what is still missing (an
///   aborted copy takes its blobs back; a registry destination mounts what another repository now
///   holds). A blob the destination already held counts as held only when no open copy claims it,
///   because a copy that aborts removes what it wrote. Waits only go from a copy to one that claimed
///   earlier, and a copy holds no permit while it waits, so there is no cycle.
/// - **One commit at a time.** Commits and aborts of the copies run one after another: the store and
///   the layouts read, change and replace their `index.json` in commit.
public final class ConcurrentCopies: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `condition`.
    private let condition = NSCondition()
    private let limit: Int
    private var inFlight = 0
    private var nextID = 0
    private var open = Set<Int>()
    /// Blob → the open copy that claimed it.
    private var claims: [Digest: Int] = [:]
    private let commits = NSLock()

    /// `limit`: blobs moving at once across every copy (`--jobs`).
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// One copy's membership, from its start to its commit or abort.
    final class Member: @unchecked Sendable {
        // @unchecked Sendable: immutable.
        let id: Int
        let group: ConcurrentCopies
        init(id: Int, group: ConcurrentCopies) { self.id = id; self.group = group }
    }

    func join() -> Member {
        condition.withLock {
            nextID += 1
            open.insert(nextID)
            return Member(id: nextID, group: self)
        }
    }

    /// Ends a copy (after its commit or abort): its claims go, and the copies borrowing them go on.
    func leave(_ member: Member) {
        condition.withLock {
            open.remove(member.id)
            claims = claims.filter { $0.value != member.id }
            condition.broadcast()
        }
    }

    /// Splits the blobs a copy wants, given whether its destination held each when asked: those it
    /// copies (claimed now), those another open copy brings (with that copy), and the rest (held).
    func claim(_ blobs: [Descriptor], held: [Bool], by member: Member)
        -> (own: [Descriptor], borrowed: [(Descriptor, Int)], held: [Descriptor]) {
        condition.withLock {
            var own: [Descriptor] = []
            var borrowed: [(Descriptor, Int)] = []
            var kept: [Descriptor] = []
            for (blob, isHeld) in zip(blobs, held) {
                if let owner = claims[blob.digest], owner != member.id {
                    borrowed.append((blob, owner))
                } else if isHeld {
                    kept.append(blob)
                } else {
                    claims[blob.digest] = member.id
                    own.append(blob)
                }
            }
            return (own, borrowed, kept)
        }
    }

    /// Waits until each of these copies has committed or aborted.
    func wait(for owners: Set<Int>) {
        condition.withLock {
            while !open.isDisjoint(with: owners) { condition.wait() }
        }
    }

    /// Runs `body` (one blob's transfer) when fewer than `limit` blobs are moving.
    func moving<T>(_ body: () throws -> T) rethrows -> T {
        condition.withLock {
            while inFlight >= limit { condition.wait() }
            inFlight += 1
        }
        defer {
            condition.withLock {
                inFlight -= 1
                condition.broadcast()
            }
        }
        return try body()
    }

    /// Runs a commit or an abort, one at a time.
    func finishing<T>(_ body: () throws -> T) rethrows -> T {
        try commits.withLock { try body() }
    }
}
