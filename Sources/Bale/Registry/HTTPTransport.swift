import AsyncHTTPClient
import BaleCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

// The HTTP layer under the registry client: one async-http-client for the process, driven from the
// copier's worker threads, which block on futures (never an event loop thread).
//
// Why async-http-client and not FoundationNetworking's URLSession, measured on this machine (loopback,
// docker-registry 2.8, one 512 MiB blob, throwaway programs built with swiftc -O):
// - URLSession download with a data delegate: 0.99 s (544 MB/s), 41 MB RSS; with a consumer slower
//   than the socket (a disk, a hasher; 200 µs per callback) 11 s and 534 MB RSS: it gives a delegate no
//   backpressure and buffers the whole body. Upload from an InputStream streams (2.3 s, 35 MB RSS).
//   Client certificates are not implemented in FoundationNetworking (swift-corelibs-foundation
//   PR #4937 is still open); a private CA per registry was not tried.
// - async-http-client streams a response with backpressure (the delegate's futures), a request body
//   from a synchronous reader, and takes a private CA and a client certificate per request (NIOSSL's
//   TLSConfiguration). `bale pull` of the same blob, debug build, store writes and SHA-256 included:
//   22.7 s, 52 MB peak RSS (curl to /dev/null: 0.4 s).
//
//   worker thread                         event loop
//   ─────────────                         ──────────
//   send(request) ── execute ───────────▶ request head (+ body from UploadBridge, one chunk at a time)
//   response.head  ◀── ResponseStream ◀── didReceiveHead
//   response.read  ◀── (≤ 4 MiB queued) ◀── didReceiveBodyPart: its future completes once the worker
//                                           has drained the queue, so the socket is read no faster than
//                                           the destination writes

/// The process's HTTP client: one connection pool and event loop group for every registry.
enum HTTPTransport {
    /// Redirects (a registry sends blobs to a storage backend with 307) are followed up to 10, and a
    /// loop is an error (async-http-client detects cycles).
    static let client: HTTPClient = {
        let configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 10, allowCycles: false),
            timeout: .init(connect: .seconds(20), read: .seconds(120)))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Ends a request body the server answered (with an error) before it was all sent.
    struct AnsweredEarly: Error {}

    /// Bytes of a response body queued between the event loop and the reader before the socket waits.
    static let queueCapacity = 4 << 20

    /// Starts a request; returns once the response head is in (the body then streams). `body`, when
    /// given, is read on this thread while the request is sent.
    static func send(_ request: HTTPClient.Request, body: (any BlobReader)? = nil) throws -> HTTPResponse {
        var request = request
        let stream = ResponseStream()
        let upload = body.map { UploadBridge(reader: $0) }
        if let upload, request.body == nil {
            request.body = .stream(contentLength: upload.length) { writer in upload.start(writer) }
        }
        let task = client.execute(request: request, delegate: StreamingDelegate(stream))
        stream.task = task
        task.futureResult.whenComplete { result in
            switch result {
            case .success: stream.finish()
            case .failure(let error): stream.fail(error)
            }
        }
        if let upload {
            do { try upload.pump(until: stream) } catch { task.cancel(); throw error }
        }
        let head = try stream.waitForHead()
        return HTTPResponse(status: Int(head.status.code), headers: head.headers, url: request.url, stream: stream)
    }
}

/// A response: status and headers, and its body as a stream read on the calling thread.
final class HTTPResponse {
    let status: Int
    let headers: HTTPHeaders
    /// The URL asked for (before redirects), against which a relative `Location` is resolved.
    let url: URL
    fileprivate let stream: ResponseStream

    fileprivate init(status: Int, headers: HTTPHeaders, url: URL, stream: ResponseStream) {
        self.status = status
        self.headers = headers
        self.url = url
        self.stream = stream
    }

    deinit { stream.cancel() }

    /// The first value of a header.
    func header(_ name: String) -> String? { headers.first(name: name) }

    /// Reads body bytes into `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try stream.read(into: buffer) }

    /// The whole body, refused when longer than `limit` (documents, error bodies, tokens).
    func body(limit: Int) throws -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return data }
            data.append(contentsOf: chunk[0..<n])
            if data.count > limit {
                stream.cancel()
                throw BaleError(.invalidInput, "\(url.absoluteString): the response is over the \(limit)-byte limit")
            }
        }
    }

    /// Drops the rest of the body (the connection is closed if it was not finished).
    func discard() { stream.cancel() }
}

/// The bounded hand-over of one response from the event loop to a reading thread.
private final class ResponseStream: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var head: HTTPResponseHead?
    private var chunks: [ByteBuffer] = []
    private var queued = 0
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    /// Completed when the reader has drained the queue: the event loop then reads the socket again.
    private var waiting: EventLoopPromise<Void>?
    var task: HTTPClient.Task<Void>? {
        get { condition.withLock { _task } }
        set { condition.withLock { _task = newValue } }
    }
    private var _task: HTTPClient.Task<Void>?

    /// Whether the request body is being sent (by an `UploadBridge`).
    private var uploading = false

    func receiveHead(_ head: HTTPResponseHead) {
        let refused = condition.withLock { () -> HTTPClient.Task<Void>? in
            self.head = head
            condition.broadcast()
            return uploading && head.status.code >= 300 ? _task : nil
        }
        // An error answer while the body is still going up (a registry refusing an upload): the
        // request is cancelled, which ends the write the sender may be waiting on behind a server that
        // reads no more. The head is kept, so the sender reports the answer.
        refused?.cancel()
    }

    func setUploading(_ value: Bool) { condition.withLock { uploading = value } }

    /// Queues a body part; the returned future completes when the queue has room again.
    func receive(_ buffer: ByteBuffer, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        condition.lock()
        defer { condition.unlock() }
        if cancelled { return eventLoop.makeSucceededVoidFuture() }
        chunks.append(buffer)
        queued += buffer.readableBytes
        condition.broadcast()
        guard queued >= HTTPTransport.queueCapacity else { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        waiting = promise
        return promise.futureResult
    }

    func finish() {
        condition.withLock { finished = true; condition.broadcast() }
    }

    func fail(_ error: any Error) {
        condition.withLock {
            if failure == nil && !finished { failure = error }
            condition.broadcast()
        }
    }

    /// The reader has gone: the queue is dropped and the request cancelled if still running.
    func cancel() {
        let (promise, task) = condition.withLock { () -> (EventLoopPromise<Void>?, HTTPClient.Task<Void>?) in
            cancelled = true
            chunks.removeAll()
            queued = 0
            defer { waiting = nil }
            return (waiting, finished || failure != nil ? nil : _task)
        }
        promise?.succeed(())
        task?.cancel()
    }

    func waitForHead() throws -> HTTPResponseHead {
        condition.lock()
        defer { condition.unlock() }
        while head == nil && failure == nil && !finished { condition.wait() }
        if let head { return head }
        if let failure { throw failure }
        throw BaleError(.io, "the connection closed before a response")
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var resume: EventLoopPromise<Void>?
        defer { resume?.succeed(()) }
        condition.lock()
        defer { condition.unlock() }
        while chunks.isEmpty && failure == nil && !finished { condition.wait() }
        guard !chunks.isEmpty else {
            if let failure { throw failure }
            return 0
        }
        let n = min(buffer.count, chunks[0].readableBytes)
        chunks[0].withUnsafeReadableBytes { raw in
            buffer.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: n)
        }
        chunks[0].moveReaderIndex(forwardBy: n)
        if chunks[0].readableBytes == 0 { chunks.removeFirst() }
        queued -= n
        if queued < HTTPTransport.queueCapacity / 2, let promise = waiting {
            waiting = nil
            resume = promise
        }
        return n
    }
}

/// Hands a response's parts to its `ResponseStream`.
private final class StreamingDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    // @unchecked Sendable: `stream` is itself thread-safe and never reassigned.
    typealias Response = Void
    private let stream: ResponseStream
    init(_ stream: ResponseStream) { self.stream = stream }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        stream.receiveHead(head)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        stream.receive(buffer, on: task.eventLoop)
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) { stream.fail(error) }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
}

/// A request body read from a `BlobReader` on the sending thread: the event loop hands over its writer,
/// and the thread writes one chunk at a time, with one write in flight (so at most two chunks are in memory).
private final class UploadBridge: @unchecked Sendable {
    // @unchecked Sendable: `writer` and `done` are guarded by `condition`; `reader` is used by the
    // sending thread only.
    private let condition = NSCondition()
    private var writer: HTTPClient.Body.StreamWriter?
    private var done: EventLoopPromise<Void>?
    private let reader: any BlobReader
    /// The body's length when the reader knows it (a `SizedReader`), else chunked encoding.
    let length: Int64?

    init(reader: any BlobReader) {
        self.reader = reader
        length = (reader as? SizedReader)?.length
    }

    /// Called on the event loop when the body is wanted.
    func start(_ writer: HTTPClient.Body.StreamWriter) -> EventLoopFuture<Void> {
        let promise = HTTPTransport.client.eventLoopGroup.next().makePromise(of: Void.self)
        condition.withLock {
            self.writer = writer
            done = promise
            condition.broadcast()
        }
        return promise.futureResult
    }

    /// Writes the body once the request asks for it; returns early if the response ends first.
    func pump(until response: ResponseStream) throws {
        let writer: HTTPClient.Body.StreamWriter
        let done: EventLoopPromise<Void>
        condition.lock()
        while self.writer == nil && !response.isOver { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
        guard let w = self.writer, let d = self.done else { condition.unlock(); return }
        writer = w
        done = d
        condition.unlock()
        response.setUploading(true)
        defer { response.setUploading(false) }
        if response.refusedEarly {
            done.fail(HTTPTransport.AnsweredEarly())
            return
        }
        do {
            // One write in flight while the next chunk is read: the source and the socket overlap,
            // and at most two chunks are in memory.
            var chunk = [UInt8](repeating: 0, count: 256 << 10)
            var inFlight: EventLoopFuture<Void>?
            while true {
                let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
                do { try inFlight?.wait() } catch where response.refusedEarly {
                    done.fail(error)  // the write failed because the server answered: read that
                    return
                }
                if n == 0 { break }
                // An error answered before the body is all sent (a registry refusing an upload): the
                // rest is not sent, so the answer can be read rather than waited behind a server that
                // stopped reading.
                if response.refusedEarly {
                    done.fail(HTTPTransport.AnsweredEarly())
                    return
                }
                inFlight = writer.write(.byteBuffer(ByteBuffer(bytes: chunk[0..<n])))
            }
            done.succeed(())
        } catch {
            done.fail(error)
            throw error
        }
    }
}

extension ResponseStream {
    /// Whether the response has ended (finished or failed) before the body was asked for.
    fileprivate var isOver: Bool { condition.withLock { finished || failure != nil || head != nil } }
    /// Whether an error status has come in (while the request body is still being sent).
    fileprivate var refusedEarly: Bool { condition.withLock { (head?.status.code ?? 0) >= 300 } }
}

/// A reader whose length is known, so a request can send `Content-Length` instead of chunks.
final class SizedReader: BlobReader {
    let base: any BlobReader
    let length: Int64
    init(_ base: any BlobReader, length: Int64) {
        self.base = base
        self.length = length
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try base.read(into: buffer) }
    func close() { base.close() }
}
