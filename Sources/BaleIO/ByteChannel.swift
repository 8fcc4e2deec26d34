import BaleCore
import Foundation

// Moving bytes between threads without copying them: blocks that one thread fills and hands over whole,
// and sources that lend their own buffers to the reader instead of copying into the reader's.

/// An owned, fixed-capacity byte buffer, filled once and then only read (until its one owner recycles
/// it: `reset`). A filled block can be handed to other threads (a compression worker, a `ByteChannel`)
/// and kept by several at once: nothing writes it after `fill`, and the hand-offs (a queue, a semaphore,
/// the channel's lock) order the accesses, hence `@unchecked Sendable`.
public final class ByteBlock: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    /// Bytes it can hold.
    public let capacity: Int
    /// Bytes it holds.
    public private(set) var count = 0

    /// An empty block of `capacity` bytes.
    public init(capacity: Int) {
        self.capacity = capacity
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    /// A full block holding a copy of `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(capacity: bytes.count)
        if let source = bytes.baseAddress { base.copyMemory(from: source, byteCount: bytes.count) }
        count = bytes.count
    }

    deinit { base.deallocate() }

    /// Empties the block for another `fill`. Only for an owner that knows no other thread still reads it
    /// (`HashingCopy` recycles its blocks once the hasher hands them back).
    func reset() { count = 0 }

    /// The bytes it holds.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Reads until full or until `read` returns 0; returns true at end of input. Blocks are always filled
    /// completely before the end, so block boundaries never depend on read sizes (`ParallelGzip`'s
    /// output depends on them).
    public func fill(from read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Bool {
        while count < capacity {
            let n = try read(UnsafeMutableRawBufferPointer(start: base + count, count: capacity - count))
            if n == 0 { return true }
            guard n > 0, n <= capacity - count else {
                throw BaleError(.internal, "read callback returned \(n) for a \(capacity - count)-byte buffer")
            }
            count += n
        }
        return false
    }
}

/// A pull-style source that lends its own buffers instead of copying into the caller's: libarchive
/// reads a channel's blocks, or an inflater's output, in place (`TarReader(chunks:name:)`).
public protocol ChunkSource {
    /// The next bytes of the stream, valid until the next call; empty at the end of the stream.
    mutating func nextChunk() throws -> UnsafeRawBufferPointer
}

/// The `ChunkSource` over a `ByteSource`: reads into one buffer of its own, reused for every chunk.
final class BufferedChunks: ChunkSource {
    private var source: any ByteSource
    private let buffer: UnsafeMutableRawBufferPointer

    init(_ source: any ByteSource, bufferSize: Int) {
        self.source = source
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func nextChunk() throws -> UnsafeRawBufferPointer {
        let n = try source.read(into: buffer)
        return UnsafeRawBufferPointer(rebasing: buffer[0 ..< n])
    }
}

/// A bounded in-memory pipe between two threads: a producer (a `TarWriter`, an inflater, the compressor's
/// input) and a consumer (`ParallelGzip.compress`'s read callback, a `TarReader`).
///
/// ```
/// producer ── write(bytes): copies ──▶ [ blocks, at most `capacity` bytes queued ] ──▶ read(into:): copies
///          └─ send(block): lends ────▶                                             └─▶ nextChunk(): lends
///             blocks while full                                                       blocks while empty
/// ```
///
/// `finish()` ends the stream (the consumer then reads 0); `fail(_:)` ends it with an error that both
/// sides see; `cancel()` (by the consumer) makes further writes throw, so a producer never waits for a
/// reader that has gone away. Memory is bounded by `capacity` plus one block on each side.
public final class ByteChannel: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `condition`; sent blocks are never written.
    private let condition = NSCondition()
    private var blocks: [ByteBlock] = []
    private var head = 0          // bytes of blocks[0] already read
    private var queued = 0
    /// The block whose bytes the last `nextChunk` lent; kept alive until the next call.
    private var lent: ByteBlock?
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    /// Queued bytes above which `write` and `send` wait.
    public let capacity: Int
    /// Work for a side that would wait (the producer on a full channel, the consumer on an empty one):
    /// called without the lock; true when it did some, and then the wait condition is checked again.
    private let whileWaiting: (@Sendable () -> Bool)?

    /// An empty channel holding at most about `capacity` bytes. `whileWaiting`, when given, is called
    /// instead of waiting as long as it finds work (a `SharedHasher`'s `hashOne`).
    public init(capacity: Int = 4 << 20, whileWaiting: (@Sendable () -> Bool)? = nil) {
        self.capacity = capacity
        self.whileWaiting = whileWaiting
    }

    /// Waits while `blocked()` holds, running `whileWaiting` instead as long as it finds work. Holds the
    /// lock before and after. The condition is checked again under the lock after every piece of work
    /// and before every wait: the other side may have changed it, and signalled, while the lock was
    /// free, and a wait that missed that signal would never end (both sides did, once, in a test).
    private func wait(while blocked: () -> Bool) {
        while blocked() {
            if let whileWaiting {
                condition.unlock()
                let worked = whileWaiting()
                condition.lock()
                if worked { continue }
                guard blocked() else { return }
            }
            condition.wait()
        }
    }

    /// Queues a copy of `bytes`, waiting while the queue is full. Throws once the channel is cancelled
    /// or failed.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try send(ByteBlock(copying: bytes))
    }

    /// Queues `block` itself (the producer must not change it afterwards), waiting while the queue is
    /// full. Throws once the channel is cancelled or failed.
    public func send(_ block: ByteBlock) throws {
        guard block.count > 0 else { return }
        condition.lock()
        defer { condition.unlock() }
        wait { queued >= capacity && !cancelled && failure == nil }
        if let failure { throw failure }
        if cancelled { throw BaleError(.interrupted, "the reading side stopped") }
        blocks.append(block)
        queued += block.count
        condition.broadcast()
    }

    /// Copies queued bytes into `buffer`, waiting while the queue is empty and the stream not finished;
    /// 0 at the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        condition.lock()
        defer { condition.unlock() }
        guard let first = try waitForBlock(), let base = buffer.baseAddress else { return 0 }
        let n = min(buffer.count, first.count - head)
        base.copyMemory(from: first.base + head, byteCount: n)
        take(n)
        return n
    }

    /// Lends the rest of the oldest queued block, valid until the next call, waiting while the queue is
    /// empty and the stream not finished; empty at the end.
    public func nextChunk() throws -> UnsafeRawBufferPointer {
        condition.lock()
        defer { condition.unlock() }
        lent = nil
        guard let first = try waitForBlock() else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let chunk = UnsafeRawBufferPointer(rebasing: first.bytes[head...])
        lent = first
        take(chunk.count)
        return chunk
    }

    /// Ends the stream normally.
    public func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the stream with `error` (the first one wins).
    public func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer stops reading: queued data is dropped and writes throw.
    public func cancel() {
        condition.lock()
        cancelled = true
        blocks.removeAll()
        queued = 0
        condition.broadcast()
        condition.unlock()
    }

    /// The oldest queued block once there is one, nil at the end; throws the failure. Holds the lock.
    private func waitForBlock() throws -> ByteBlock? {
        wait { blocks.isEmpty && !finished && failure == nil }
        if let failure { throw failure }
        return blocks.first
    }

    /// Consumes `n` bytes of the oldest block. Holds the lock.
    private func take(_ n: Int) {
        head += n
        queued -= n
        if head == blocks[0].count {
            blocks.removeFirst()
            head = 0
        }
        condition.broadcast()
    }
}

/// A `ByteSink` writing into a channel.
public struct ChannelSink: ByteSink {
    /// The channel written to.
    public let channel: ByteChannel
    /// Writes into `channel`.
    public init(channel: ByteChannel) { self.channel = channel }
    public func write(_ bytes: UnsafeRawBufferPointer) throws { try channel.write(bytes) }
}

/// A source reading from a channel: copying (`ByteSource`) or borrowing its blocks (`ChunkSource`).
public struct ChannelSource: ByteSource, ChunkSource {
    /// The channel read from.
    public let channel: ByteChannel
    /// Reads from `channel`.
    public init(channel: ByteChannel) { self.channel = channel }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try channel.read(into: buffer) }
    public func nextChunk() throws -> UnsafeRawBufferPointer { try channel.nextChunk() }
}
