import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client over persistent connections (SwiftNIO), for the worker's many small
/// calls to the coordinator: a lease, a bank sync per batch, a heartbeat. Foundation's
/// URLSession on Linux costs milliseconds per request; this costs a round trip on loopback.
/// Plain `http://` only; `https://` coordinators go through URLSession.
final class KeepAliveHTTP: Sendable {
    struct Reply: Sendable {
        var status: Int
        var body: Data
    }

    enum Failure: Error, CustomStringConvertible {
        case connectionClosed
        case timedOut(seconds: Double)

        var description: String {
            switch self {
            case .connectionClosed: "the connection to the coordinator closed mid-request"
            case let .timedOut(seconds): "no reply from the coordinator within \(seconds) s"
            }
        }
    }

    private let host: String
    private let port: Int
    private let slots: ConnectionSlots
    /// A request not answered in this time fails (and is retried by the caller): without it,
    /// a coordinator host that vanishes without a reset would hold a request until TCP gives
    /// up, many minutes later.
    let timeout: Double
    let connectTimeout: Double

    init(host: String, port: Int, connections: Int = 2, timeout: Double = 60, connectTimeout: Double? = nil) {
        self.host = host
        self.port = port
        self.slots = ConnectionSlots(count: connections)
        self.timeout = timeout
        self.connectTimeout = connectTimeout ?? timeout
    }

    func send(method: String, path: String, headers: [(String, String)], body: Data?) async throws -> Reply {
        let connection = try await slots.acquire(host: host, port: port, connectTimeout: connectTimeout)
        let expired = TimeoutFlag()
        let limit = timeout
        // Closing the channel ends the pending read, so the request fails promptly.
        let watchdog = Task {
            try await Task.sleep(nanoseconds: UInt64(limit * 1e9))
            expired.set()
            connection.close()
        }
        defer { watchdog.cancel() }
        do {
            let reply = try await connection.send(method: method, path: path, host: host, headers: headers, body: body)
            await slots.release(connection, healthy: !expired.isSet)
            return reply
        } catch {
            await slots.release(connection, healthy: false)
            if expired.isSet { throw Failure.timedOut(seconds: limit) }
            throw error
        }
    }
}

/// Set once by a request's watchdog.
private final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Up to `count` idle connections, reused; a broken one is dropped and replaced on demand.
private actor ConnectionSlots {
    private var idle: [Connection] = []
    private var open = 0
    private let count: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { self.count = max(1, count) }

    func acquire(host: String, port: Int, connectTimeout: Double) async throws -> Connection {
        while true {
            if let c = idle.popLast() { return c }
            if open < count {
                open += 1
                do {
                    return try await Connection.connect(host: host, port: port, timeout: connectTimeout)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ connection: Connection, healthy: Bool) {
        if healthy {
            idle.append(connection)
        } else {
            open -= 1
            connection.close()
        }
        wakeOne()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}

/// One keep-alive connection; one request at a time (the slots guarantee it).
private final class Connection: @unchecked Sendable {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    private let channel: Channel
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    private init(channel: Channel) {
        self.channel = channel
        self.inbound = channel.inbound.makeAsyncIterator()
        self.outbound = channel.outbound
    }

    static func connect(host: String, port: Int, timeout: Double) async throws -> Connection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout * 1000)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try Channel(wrappingChannelSynchronously: channel)
                }
            }
        return Connection(channel: channel)
    }

    func send(method: String, path: String, host: String, headers: [(String, String)], body: Data?) async throws -> KeepAliveHTTP.Reply {
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Length", value: "\(body?.count ?? 0)")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        try await outbound.write(.head(head))
        if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))
        var status = 0
        var data = Data()
        while let part = try await inbound.next() {
            switch part {
            case let .head(response): status = Int(response.status.code)
            case let .body(buffer): data.append(contentsOf: buffer.readableBytesView)
            case .end: return KeepAliveHTTP.Reply(status: status, body: data)
            }
        }
        throw KeepAliveHTTP.Failure.connectionClosed
    }

    func close() {
        outbound.finish()
        channel.channel.close(promise: nil)
    }

    /// NIO requires the writer to be finished before it goes away.
    deinit {
        outbound.finish()
        channel.channel.close(promise: nil)
    }
}
