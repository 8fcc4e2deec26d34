import BaleCore
import Foundation

/// Copies a stream into a sink and computes its SHA-256, with the writing on a second thread so it
/// overlaps the reading and hashing instead of following them; then checks size and digest against
/// what was expected. The one hash-and-verify copy behind `save` (a blob into its tar member) and
/// `load` (a blob into the store).
///
/// ```
/// calling thread   fill block 1 ─ hand over ─ hash block 1 ─ fill block 2 ─ hand over ─ hash block 2 … join
///                                  │                                        │                          │
/// writer thread                    └─▶ write block 1, hand back             └─▶ write block 2 …   ─▶ done
/// ```
///
/// The split is the measured one: writing into the page cache (and starting its writeback) is the
/// larger half on this machine, reading and SHA-256 (with the CPU's SHA extensions) the smaller, so the
/// copy takes about as long as the writes alone, the time `tar` needs for the same bytes.
///
/// The source is read on the calling thread; the sink is written on the writer thread only while
/// `copy` runs, never at the same time as anything else, and no more once `copy` returns or throws.
/// What crosses between them is each filled `ByteBlock` itself (never a copy): the writer writes from
/// the block the caller hashes. The blocks, at most `blocksInFlight`, go round: the writer hands each
/// back once written and the next fill reuses it, so a copy touches the same few MiB however long the
/// stream is (a fresh block per MiB cost a page fault per 4 KiB). A stream that fits in one block is
/// copied on the calling thread alone: no thread for a small document.
///
/// Errors: a read or write error is rethrown as it came, after the writer has stopped. With `expected`,
/// a block that would take the stream past the expected size throws `.integrity` before it is written,
/// and at the end a short stream or a different digest throws `.integrity`. Whenever `copy` throws, what
/// reached the sink must be thrown away (the caller removes its temp file, or never ends its tar member);
/// nothing is reported as verified before the whole stream was hashed.
public enum HashingCopy {
    /// Bytes read, written and hashed at a time.
    public static let defaultBlockSize = 1 << 20
    /// Blocks a copy uses at most: one being filled and hashed, the rest queued for or in the writer.
    static let blocksInFlight = 4

    /// Copies `source` to its end into `sink`, hashing on the way; returns the SHA-256 and the byte count.
    /// With `expected`, also checks them, naming `name` (the blob: a digest, a location) in the errors.
    @discardableResult
    public static func copy(from source: any ByteSource, to sink: any ByteSink,
                            expected: (digest: BaleCore.Digest, size: Int64)? = nil, name: String,
                            blockSize: Int = defaultBlockSize) throws -> (digest: BaleCore.Digest, size: Int64) {
        var source = source
        var hasher = SHA256Hasher()
        var count: Int64 = 0

        /// Fills `block` with the next bytes of the stream, checked against the expected size before anyone
        /// writes them; true at the end of the stream.
        func fill(_ block: ByteBlock) throws -> Bool {
            let atEnd = try block.fill { try source.read(into: $0) }
            count += Int64(block.count)
            if let expected, count > expected.size {
                throw BaleError(.integrity, "\(name): more than the \(expected.size) bytes its descriptor gives")
            }
            return atEnd
        }

        let first = ByteBlock(capacity: blockSize)
        if try fill(first) {
            var sink = sink
            if first.count > 0 { try sink.write(first.bytes) }
            hasher.update(first.bytes)
        } else {
            let writer = Writer(sink)
            do {
                var block = first
                var atEnd = false
                while true {
                    if block.count > 0 {
                        try writer.write(block)   // the writer reads the block while it is hashed here
                        hasher.update(block.bytes)
                    }
                    if atEnd { break }
                    block = try writer.spare(capacity: blockSize)
                    atEnd = try fill(block)
                }
                try writer.finish()
            } catch {
                writer.stop()
                throw error
            }
        }

        let digest = hasher.finalize()
        if let expected {
            guard count == expected.size else {
                throw BaleError(.integrity, "\(name): \(count) bytes, its descriptor gives \(expected.size)")
            }
            guard digest == expected.digest else {
                throw BaleError(.integrity, "\(name): content does not match the digest (it hashes to \(digest))")
            }
        }
        return (digest, count)
    }

    /// The writing thread and the blocks going round between it and the calling thread.
    private final class Writer: @unchecked Sendable {
        // @unchecked Sendable: every mutable field is guarded by `condition`, except `sink`, which only the
        // thread uses; a block is read by the thread between `write` and its return to `spares`, and is
        // filled again only after that.
        private let condition = NSCondition()
        private var sink: any ByteSink
        private var queued: [ByteBlock] = []
        private var spares: [ByteBlock] = []
        /// Blocks in the round, counting the caller's first one.
        private var made = 1
        private var finishing = false
        private var stopped = false
        private var exited = false
        private var failure: (any Error)?

        /// Starts the thread.
        init(_ sink: any ByteSink) {
            self.sink = sink
            let thread = Thread { [self] in run() }
            thread.name = "bale.write"
            thread.start()
        }

        /// Queues a filled block for writing; throws the writer's error once it has failed.
        func write(_ block: ByteBlock) throws {
            condition.lock()
            defer { condition.unlock() }
            if let failure { throw failure }
            queued.append(block)
            condition.broadcast()
        }

        /// An empty block to fill: a new one while fewer than `blocksInFlight` exist, else the next one the
        /// thread hands back. Throws the writer's error once it has failed.
        func spare(capacity: Int) throws -> ByteBlock {
            condition.lock()
            defer { condition.unlock() }
            while spares.isEmpty && made >= HashingCopy.blocksInFlight && failure == nil { condition.wait() }
            if let failure { throw failure }
            guard let block = spares.popLast() else {
                made += 1
                return ByteBlock(capacity: capacity)
            }
            block.reset()
            return block
        }

        /// Waits until every queued block is written and the thread has ended; throws the writer's error.
        func finish() throws {
            condition.lock()
            defer { condition.unlock() }
            finishing = true
            condition.broadcast()
            while !exited { condition.wait() }
            if let failure { throw failure }
        }

        /// Abandons the copy: the thread ends without writing what is still queued. Returns once it has,
        /// so the sink is not written after the caller's error unwinds.
        func stop() {
            condition.lock()
            defer { condition.unlock() }
            stopped = true
            condition.broadcast()
            while !exited { condition.wait() }
        }

        private func run() {
            condition.lock()
            while true {
                while queued.isEmpty && !finishing && !stopped { condition.wait() }
                if stopped || queued.isEmpty { break }
                let block = queued.removeFirst()
                condition.unlock()
                var error: (any Error)?
                do { try sink.write(block.bytes) } catch let thrown { error = thrown }
                condition.lock()
                if let error {
                    failure = error
                    break
                }
                spares.append(block)
                condition.broadcast()
            }
            exited = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
