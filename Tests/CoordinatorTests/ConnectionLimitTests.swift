@testable import Coordinator
import Foundation
import Logging
import Testing

/// Issue 23: no idle or slow client can hold the coordinator, and the limits apply before any
/// token is looked at.
@Suite("Connection limits", .serialized)
struct ConnectionLimitTests {
    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// A server with `limits` for the duration of `body`, stopped (awaited) afterwards.
    func serving(_ limits: ConnectionLimits, _ body: (InProcessServer) async throws -> Void) async throws {
        try await InProcessServer.serving(coordinator: try Coordinator(databasePath: ":memory:"),
                                          options: ServerOptions(host: "127.0.0.1", port: 0, token: "s3cret", limits: limits),
                                          logger: Self.quiet, body)
    }

    @Test("the timeline: head, body and keep-alive deadlines, none while answering")
    func timeline() {
        let limits = ConnectionLimits(headSeconds: 10, bodyIdleSeconds: 30, keepAliveSeconds: 60, maxConnections: 8)
        var t = ConnectionTimeline(openedAt: 100, limits: limits)
        #expect(t.deadline == 110)
        t.bytesArrived(at: 105) // part of a head: its clock does not restart
        #expect(t.deadline == 110 && t.expiry(at: 109.9) == nil && t.expiry(at: 110) != nil)
        t.headArrived(at: 108)
        #expect(t.deadline == 138)
        t.bytesArrived(at: 130)
        #expect(t.deadline == 160)
        t.requestEnded(at: 131)
        #expect(t.deadline == nil && t.expiry(at: 10_000) == nil)
        t.answered(at: 140)
        #expect(t.deadline == 200)
        #expect(t.expiry(at: 200)?.contains("idle") == true)
        t.bytesArrived(at: 150) // the next request's first byte: its head has 10 s
        #expect(t.deadline == 160)
        // Answered before the body ended (a refusal): the rest is read against the body limit,
        // then the connection idles.
        t.headArrived(at: 151)
        t.answered(at: 152)
        #expect(t.deadline == 181)
        t.requestEnded(at: 153)
        #expect(t.deadline == 213)
        // Pipelined bytes while answering start the next head's clock when the answer is out.
        t.bytesArrived(at: 154)
        t.headArrived(at: 154)
        t.requestEnded(at: 154)
        t.bytesArrived(at: 155)
        t.answered(at: 170)
        #expect(t.deadline == 180)
    }

    @Test("limits are checked: out-of-range values name their flag, the default stays under the descriptor limit")
    func limitChecks() {
        #expect(ConnectionLimits.defaultMaxConnections(descriptorLimit: 20_000) == 4096)
        #expect(ConnectionLimits.defaultMaxConnections(descriptorLimit: 1024) == 512)
        #expect(ConnectionLimits(maxConnections: 10).problem(descriptorLimit: 1024) == nil)
        #expect(ConnectionLimits(maxConnections: 1000).problem(descriptorLimit: 1024)?.contains("--max-connections") == true)
        #expect(ConnectionLimits(headSeconds: 0, maxConnections: 10).problem(descriptorLimit: 1024)?.contains("--head-timeout") == true)
        #expect(ConnectionLimits(bodyIdleSeconds: .nan, maxConnections: 10).problem(descriptorLimit: 1024)?.contains("--body-timeout") == true)
        #expect(ConnectionLimits(keepAliveSeconds: -1, maxConnections: 10).problem(descriptorLimit: 1024)?.contains("--keep-alive") == true)
    }

    @Test("90 silent, half-sent and stalled-body clients are closed within their timeouts while health answers")
    func slowClients() async throws {
        try await serving(ConnectionLimits(headSeconds: 0.5, bodyIdleSeconds: 0.5, keepAliveSeconds: 0.5, maxConnections: 200)) { server in
            var held: [RawConnection] = []
            for i in 0..<90 {
                let c = try RawConnection(port: server.port)
                switch i % 3 {
                case 1: c.send("POST /v1/leases HTTP/1.1\r\nHost: x\r\nContent-Le") // half a head, no token yet
                case 2: c.send("POST /v1/leases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"wor") // the probe: 5 of 100 bytes
                default: break // nothing at all
                }
                held.append(c)
            }
            let health = try RawConnection(port: server.port).request("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(health.hasPrefix("HTTP/1.1 200"), "\(health)")
            let start = Date()
            for (i, c) in held.enumerated() {
                #expect(c.readUntilClosed(seconds: 20).closed, "connection \(i) was not closed")
            }
            #expect(Date().timeIntervalSince(start) < 20)
            // A kept-alive connection that goes quiet after a request is closed too.
            let kept = try RawConnection(port: server.port)
            #expect(kept.request("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            #expect(kept.readUntilClosed(seconds: 20).closed)
        }
    }

    @Test("at the cap a new connection is refused at once (503); health answers on one already open")
    func connectionCap() async throws {
        try await serving(ConnectionLimits(headSeconds: 60, bodyIdleSeconds: 60, keepAliveSeconds: 60, maxConnections: 4)) { server in
            let kept = try RawConnection(port: server.port)
            #expect(kept.request("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            // Four more: the cap (4) leaves room for three. Which one is refused depends on the
            // order the event loops activate them, so exactly one of the four must be.
            var others = try (0..<4).map { _ in try RawConnection(port: server.port) }
            var refusals = 0
            var admittedIndex: Int?
            for (i, c) in others.enumerated() {
                let answer = c.readUntilClosed(seconds: 2)
                if answer.closed {
                    #expect(answer.text.hasPrefix("HTTP/1.1 503") && answer.text.contains("connection limit (4)"), "\(answer)")
                    refusals += 1
                } else {
                    admittedIndex = i
                }
            }
            #expect(refusals == 1)
            #expect(kept.request("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            // Once one closes, a new connection is let in again.
            if let admittedIndex { others.remove(at: admittedIndex) }
            var admitted = false
            for _ in 0..<50 where !admitted {
                try await Task.sleep(nanoseconds: 100_000_000)
                admitted = try RawConnection(port: server.port).request("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", seconds: 5).hasPrefix("HTTP/1.1 200")
            }
            #expect(admitted)
            _ = others
        }
    }
}
