import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import NIOSSL

/// The coordinator's connections, as accepted: the connection cap, TLS when configured, and the
/// deadlines of `ConnectionTimeline`, in front of Hummingbird's HTTP/1 channel. All of it runs
/// before a request is decoded, so before any token is looked at.
struct GuardedHTTPChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let connections: ConnectionCounter
    let limits: ConnectionLimits
    let tls: ReloadableTLS?

    /// Pipeline: cap (raw bytes) → TLS → clock (the request's bytes) → HTTP/1 decoding →
    /// `RequestPhases` (heads, ends, answers) → the application.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(ConnectionCap(connections: connections, answersInPlainHTTP: tls == nil))
            if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls.context)) }
            try pipeline.addHandler(ConnectionClock(limits: limits))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    /// The server builder `buildCoordinatorApplication` passes to Hummingbird.
    static func builder(limits: ConnectionLimits, connections: ConnectionCounter, tls: ReloadableTLS?) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let http = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestPhases()]))
            return GuardedHTTPChannel(base: http, connections: connections, limits: limits, tls: tls)
        }
    }
}

/// How many connections are open, shared by every event loop.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    private let open = NIOLockedValueBox(0)
    private let refused = NIOLockedValueBox(0)

    public init(limit: Int) { self.limit = limit }

    /// Counts a new connection in, unless the cap is reached.
    func admit() -> Bool {
        let admitted = open.withLockedValue { count -> Bool in
            guard count < limit else { return false }
            count += 1
            return true
        }
        if !admitted { refused.withLockedValue { $0 += 1 } }
        return admitted
    }

    func closed() { open.withLockedValue { $0 -= 1 } }

    /// Connections open now.
    public var current: Int { open.withLockedValue { $0 } }
    /// Connections refused at the cap since the server started.
    public var refusedTotal: Int { refused.withLockedValue { $0 } }
}

/// First in every connection's pipeline: counts it in, or, at the cap, closes it at once, so a
/// flood of idle clients costs one descriptor each for an instant instead of queueing in the
/// backlog. A plain-HTTP client is told why (503) before the close; a TLS one cannot be.
final class ConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connections: ConnectionCounter
    private let answersInPlainHTTP: Bool
    private var admitted = false
    private var refused = false

    init(connections: ConnectionCounter, answersInPlainHTTP: Bool) {
        self.connections = connections
        self.answersInPlainHTTP = answersInPlainHTTP
    }

    func channelActive(context: ChannelHandlerContext) {
        if connections.admit() {
            admitted = true
            context.fireChannelActive()
            return
        }
        refused = true
        guard answersInPlainHTTP else {
            context.close(promise: nil)
            return
        }
        let message = #"{"error":{"message":"the coordinator has reached its connection limit (\#(connections.limit)); try again shortly"}}"#
        let reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(message.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\(message)"
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: reply))).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !refused { context.fireChannelRead(data) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            connections.closed()
        }
        context.fireChannelInactive()
    }
}

/// Holds the connection to `ConnectionTimeline`'s deadlines: sees the request's bytes (after
/// TLS), learns heads, ends and answers from `RequestPhases`, and closes the connection when
/// its deadline passes.
final class ConnectionClock: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limits: ConnectionLimits
    private var timeline: ConnectionTimeline?
    private var timer: Scheduled<Void>?
    private var timerDeadline: Double?
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits) { self.limits = limits }

    static func now() -> Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        update { $0.bytesArrived(at: Self.now()) }
        context.fireChannelRead(data)
    }

    func headArrived() { update { $0.headArrived(at: Self.now()) } }
    func requestEnded() { update { $0.requestEnded(at: Self.now()) } }
    func answered() { update { $0.answered(at: Self.now()) } }

    private func start() {
        guard timeline == nil else { return }
        timeline = ConnectionTimeline(openedAt: Self.now(), limits: limits)
        arm()
    }

    private func update(_ change: (inout ConnectionTimeline) -> Void) {
        guard var current = timeline else { return }
        change(&current)
        timeline = current
        arm()
    }

    /// One timer per connection, at the deadline or earlier: most events push the deadline
    /// later, and the timer then re-arms itself when it fires instead of being rescheduled for
    /// every packet.
    private func arm() {
        guard let context, let deadline = timeline?.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        let delay = TimeAmount.nanoseconds(Int64(max(0, deadline - Self.now()) * 1e9) + 1_000_000)
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [self] in
            timer = nil
            timerDeadline = nil
            guard let timeline, let context = self.context else { return }
            if timeline.expiry(at: Self.now()) != nil {
                context.close(promise: nil)
            } else {
                arm()
            }
        }
    }
}

/// Tells the connection's `ConnectionClock` when a request head has been decoded, when the
/// request ended and when its answer was written.
final class RequestPhases: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var clock: ConnectionClock?

    func handlerAdded(context: ChannelHandlerContext) {
        clock = try? context.pipeline.syncOperations.handler(type: ConnectionClock.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: clock?.headArrived()
        case .body: break
        case .end: clock?.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { clock?.answered() }
        context.write(data, promise: promise)
    }
}
