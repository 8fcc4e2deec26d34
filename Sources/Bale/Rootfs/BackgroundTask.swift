import BaleCore
import BaleIO
import Foundation

/// A bounded in-memory pipe between two threads: a push-style producer (a `TarWriter`, a tee) and a
/// pull-style consumer (`ParallelGzip.compress`'s read callback, a `TarReader`).
///
/// ```
/// producer ── write(bytes) ──▶ [ chunks, at most `capacity` bytes queued ] ──▶ read(into:) ── consumer
///             blocks while full                                                 blocks while empty
/// ```
///
/// `finish()` ends the stream (the consumer then reads 0); `fail(_:)` ends it with an error that both
/// sides see; `cancel()` (by the consumer) makes further writes throw, so a producer never waits for a
/// reader that has gone away. Memory is bounded by `capacity` plus one write.
final class ByteChannel: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var chunks: [Data] = []
    private var head = 0          // bytes of chunks[0] already read
    private var queued = 0
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    let capacity: Int

    init(capacity: Int = 4 << 20) {
        self.capacity = capacity
    }

    /// Queues a copy of `bytes`, waiting while the queue is full. Throws once the channel is cancelled
    /// or failed.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        condition.lock()
        defer { condition.unlock() }
        while queued >= capacity && !cancelled && failure == nil { condition.wait() }
        if let failure { throw failure }
        if cancelled { throw BaleError(.interrupted, "the reading side stopped") }
        chunks.append(Data(bytes))
        queued += bytes.count
        condition.broadcast()
    }

    /// Reads queued bytes, waiting while the queue is empty and the stream not finished; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        condition.lock()
        defer { condition.unlock() }
        while chunks.isEmpty && !finished && failure == nil { condition.wait() }
        if let failure { throw failure }
        guard let first = chunks.first, let base = buffer.baseAddress else { return 0 }
        let n = min(buffer.count, first.count - head)
        first.withUnsafeBytes { src in
            base.copyMemory(from: src.baseAddress! + head, byteCount: n)
        }
        head += n
        queued -= n
        if head == first.count {
            chunks.removeFirst()
            head = 0
        }
        condition.broadcast()
        return n
    }

    /// Ends the stream normally.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the stream with `error` (the first one wins).
    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer stops reading: queued data is dropped and writes throw.
    func cancel() {
        condition.lock()
        cancelled = true
        chunks.removeAll()
        queued = 0
        condition.broadcast()
        condition.unlock()
    }
}

/// A `ByteSink` writing into a channel.
struct ChannelSink: ByteSink {
    let channel: ByteChannel
    func write(_ bytes: UnsafeRawBufferPointer) throws { try channel.write(bytes) }
}

/// A `ByteSource` reading from a channel.
struct ChannelSource: ByteSource {
    let channel: ByteChannel
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try channel.read(into: buffer) }
}

/// Runs `body` on a new thread; `join()` waits for it and returns its result or rethrows its error.
final class BackgroundTask<T>: @unchecked Sendable {
    // @unchecked Sendable: `result` is written by the thread before `done` is signalled and read after.
    private var result: Result<T, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            self.result = Result { try body() }
            self.done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    func join() throws -> T {
        done.wait()
        done.signal()   // later joins return at once
        guard let result else { throw BaleError(.internal, "background task ended without a result") }
        return try result.get()
    }
}
