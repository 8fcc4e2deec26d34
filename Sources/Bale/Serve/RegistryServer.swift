import BaleCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// How `bale serve` listens.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 5000
    /// PEM certificate chain and private key: HTTPS instead of HTTP.
    public var tls: (certificate: String, key: String)?
    /// A connection with no request in flight that sends nothing for this long is closed.
    public var readTimeout: Double = 60
    /// Connections beyond this many are closed as soon as they are accepted.
    public var maxConnections = 512
    /// How long a stop waits for requests in flight before it closes their connections.
    public var drainTimeout: Double = 10
    public init() {}
}

/// The HTTP side of `bale serve`, on SwiftNIO (NIOPosix, NIOHTTP1, NIOSSL):
///
/// ```
/// accept ─▶ [connection limit] ─▶ [NIOSSLServerHandler] ─▶ IdleStateHandler(read) ─▶ HTTP/1.1 codec
///        ─▶ RegistryHandler: RegistryRoutes.answer ─▶ head, then the body:
///             bytes in memory (manifests, lists, errors)
///             a file region: sendfile (plain HTTP) or 256 KiB chunks read off the event loop, each
///             written before the next is read (TLS), so a blob is never held in memory whole
/// ```
///
/// One access log line per request on stderr. `stop()` closes the listening socket, closes idle
/// connections, lets requests in flight finish for up to `drainTimeout`, then closes the rest.
public final class RegistryServer: @unchecked Sendable {
    // Sendable: `channel` is set once in `start` before any other call; the tracker locks itself.
    private let routes: RegistryRoutes
    private let options: ServeOptions
    private let group: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool
    private let tracker = ConnectionTracker()
    private let log: @Sendable (String) -> Void
    private var channel: Channel?

    public init(content: ServedContent, options: ServeOptions, log: @escaping @Sendable (String) -> Void) {
        routes = RegistryRoutes(content: content)
        self.options = options
        self.log = log
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(2, ProcessInfo.processInfo.activeProcessorCount))
        threadPool = NIOThreadPool(numberOfThreads: 2)
    }

    /// Binds and starts accepting; returns the port bound (useful with port 0).
    public func start() throws -> Int {
        threadPool.start()
        let sslContext: NIOSSLContext?
        if let tls = options.tls {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
                sslContext = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
            } catch {
                throw BaleError(.usage, "--tls-cert \(tls.certificate) / --tls-key \(tls.key): \(error)")
            }
        } else {
            sslContext = nil
        }
        let fileIO = NonBlockingFileIO(threadPool: threadPool)
        let routes = routes, tracker = tracker, log = log, options = options
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard tracker.admit(channel, limit: options.maxConnections) else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture(withResultOf: {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext { try sync.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    try sync.addHandler(IdleStateHandler(readTimeout: .milliseconds(Int64(options.readTimeout * 1000))))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(RegistryHandler(routes: routes, tracker: tracker, fileIO: fileIO,
                                                        sendfile: sslContext == nil, log: log))
                })
            }
        do {
            channel = try bootstrap.bind(host: options.host, port: options.port).wait()
        } catch {
            throw BaleError(.io, "cannot listen on \(options.host):\(options.port): \(error)")
        }
        return channel?.localAddress?.port ?? options.port
    }

    /// Stops accepting, drains requests in flight (bounded by `drainTimeout`), and shuts down.
    public func stop() {
        try? channel?.close().wait()
        let deadline = Date().addingTimeInterval(options.drainTimeout)
        tracker.drain()
        while tracker.count > 0, Date() < deadline { usleep(20_000) }
        tracker.closeAll()
        try? group.syncShutdownGracefully()
        try? threadPool.syncShutdownGracefully()
    }
}

/// The open connections and whether each has a request in flight, for the connection limit and the
/// drain on stop.
final class ConnectionTracker: @unchecked Sendable {
    // Sendable: everything is guarded by `lock`.
    private let lock = NSLock()
    private var channels: [ObjectIdentifier: (channel: Channel, busy: Bool)] = [:]
    private var draining = false

    var count: Int { lock.withLock { channels.count } }
    var isDraining: Bool { lock.withLock { draining } }

    func admit(_ channel: Channel, limit: Int) -> Bool {
        lock.withLock {
            guard !draining, channels.count < limit else { return false }
            channels[ObjectIdentifier(channel)] = (channel, false)
            return true
        }
    }

    func remove(_ channel: Channel) { lock.withLock { _ = channels.removeValue(forKey: ObjectIdentifier(channel)) } }

    func setBusy(_ channel: Channel, _ busy: Bool) {
        lock.withLock { channels[ObjectIdentifier(channel)]?.busy = busy }
    }

    /// From now on a connection closes once its response is sent; idle ones close now.
    func drain() {
        let idle = lock.withLock {
            draining = true
            return channels.values.filter { !$0.busy }.map(\.channel)
        }
        idle.forEach { $0.close(promise: nil) }
    }

    func closeAll() {
        lock.withLock { channels.values.map(\.channel) }.forEach { $0.close(promise: nil) }
    }
}

/// One connection's requests, one at a time (the HTTP pipeline handler queues pipelined ones).
final class RegistryHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: RegistryRoutes
    private let tracker: ConnectionTracker
    private let fileIO: NonBlockingFileIO
    private let sendfile: Bool
    private let log: @Sendable (String) -> Void
    private var request: HTTPRequestHead?
    private var started = NIODeadline.now()

    init(routes: RegistryRoutes, tracker: ConnectionTracker, fileIO: NonBlockingFileIO, sendfile: Bool,
         log: @escaping @Sendable (String) -> Void) {
        self.routes = routes
        self.tracker = tracker
        self.fileIO = fileIO
        self.sendfile = sendfile
        self.log = log
    }

    func channelInactive(context: ChannelHandlerContext) {
        tracker.remove(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            started = .now()
            tracker.setBusy(context.channel, true)
        case .body:
            break // nothing here takes a body; writes are refused once the request has ended
        case .end:
            guard let head = request else { return }
            respond(context: context, head: head)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // --read-timeout: only a connection waiting for its next request is closed, never one whose
        // response (a long blob) is still being sent.
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            if request == nil { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        var answer = routes.answer(RegistryRoutes.Request(
            method: head.method.rawValue, uri: head.uri, accept: head.headers["Accept"],
            range: head.headers.first(name: "Range")))
        // A blob's file is opened before the head goes out, so a file gone since start is an error
        // answer rather than a body cut short.
        var handle: NIOFileHandle?
        if case .file(let region) = answer.body {
            do {
                handle = try NIOFileHandle(_deprecatedPath: region.path)
            } catch let error as IOError where error.errnoCode == ENOENT {
                // Removed from the store since start (rmi, prune): unknown now, as after a registry's GC.
                answer = routes.failure(404, "BLOB_UNKNOWN", "blob unknown to registry", detail: region.path)
            } catch {
                answer = routes.failure(500, "UNKNOWN", "cannot read the blob: \(error)", detail: region.path)
            }
        }
        let answered = answer
        let keepAlive = head.isKeepAlive && !tracker.isDraining
        var headers = HTTPHeaders(answer.headers)
        headers.add(name: "Docker-Distribution-API-Version", value: "registry/2.0")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: answer.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let finish: @Sendable (Result<Void, any Error>, NIOFileHandle?) -> Void = { result, handle in
            let (handler, context) = bound.value
            try? handle?.close()
            handler.finish(context: context, head: head, status: answered.status, bytes: answered.bodyLength,
                           keepAlive: keepAlive, result: result)
        }
        switch answer.body {
        case .none:
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { finish($0, nil) }
        case .bytes(let data):
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: data)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { finish($0, nil) }
        case .file(let region):
            guard let handle else { context.close(promise: nil); return }
            if sendfile {
                let file = NIOCore.FileRegion(fileHandle: handle, readerIndex: Int(region.offset),
                                              endIndex: Int(region.offset + region.length))
                context.write(wrapOutboundOut(.body(.fileRegion(file))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { finish($0, handle) }
            } else {
                let outbound = NIOLoopBound(self, eventLoop: context.eventLoop)
                fileIO.readChunked(fileHandle: handle, fromOffset: region.offset, byteCount: Int(region.length),
                                   chunkSize: 256 << 10, allocator: context.channel.allocator,
                                   eventLoop: context.eventLoop) { chunk in
                    // Each chunk is written before the next is read: memory stays at one chunk
                    // per connection however slow the client.
                    let (_, context) = bound.value
                    return context.writeAndFlush(outbound.value.wrapOutboundOut(.body(.byteBuffer(chunk))))
                }.flatMap {
                    let (handler, context) = bound.value
                    return context.writeAndFlush(handler.wrapOutboundOut(.end(nil)))
                }.whenComplete { finish($0, handle) }
            }
        }
    }

    private func finish(context: ChannelHandlerContext, head: HTTPRequestHead, status: Int, bytes: Int64,
                        keepAlive: Bool, result: Result<Void, any Error>) {
        let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        let outcome: String
        switch result {
        case .success: outcome = ""
        case .failure(let error): outcome = " aborted (\(error))"
        }
        let peer = context.channel.remoteAddress?.ipAddress ?? "-"
        log("\(peer) \(head.method.rawValue) \(head.uri) \(status) \(bytes) \(String(format: "%.3f", seconds))s\(outcome)")
        request = nil
        tracker.setBusy(context.channel, false)
        if case .failure = result {
            context.close(promise: nil)
        } else if !keepAlive || tracker.isDraining {
            context.close(promise: nil)
        }
    }
}
