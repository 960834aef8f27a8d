import Foundation

/// What one client connection may cost the coordinator, enforced before any authentication:
/// a connection that sends nothing, or dribbles a request out a byte at a time, is closed, and
/// no more than `maxConnections` are open at once (the rest are refused at once). Without these,
/// 19,985 half-sent requests held the coordinator's descriptors and it answered nothing, health
/// included (issue 23).
public struct ConnectionLimits: Sendable, Equatable {
    /// Seconds from a connection's first byte (or its opening: a TLS handshake counts) to the end
    /// of a request's head.
    public var headSeconds: Double = 10
    /// Seconds a request body may go without a byte.
    public var bodyIdleSeconds: Double = 30
    /// Seconds a kept-alive connection may wait, with no request started, before it is closed.
    public var keepAliveSeconds: Double = 60
    /// Connections open at once; past it new ones are closed as soon as they are accepted.
    public var maxConnections: Int = ConnectionLimits.defaultMaxConnections()

    public init(headSeconds: Double = 10, bodyIdleSeconds: Double = 30, keepAliveSeconds: Double = 60,
                maxConnections: Int = ConnectionLimits.defaultMaxConnections()) {
        self.headSeconds = headSeconds
        self.bodyIdleSeconds = bodyIdleSeconds
        self.keepAliveSeconds = keepAliveSeconds
        self.maxConnections = maxConnections
    }

    /// The process's soft limit on open descriptors (`RLIMIT_NOFILE`).
    public static func descriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur == rlim_t.max ? Int(Int32.max) : Int(clamping: limit.rlim_cur)
    }

    /// Half the descriptor limit, at most 4,096 and at least 16: the other half stays free for
    /// the database, the artefact files being served and the process's own needs, so reaching
    /// the cap never starves the coordinator of descriptors.
    public static func defaultMaxConnections(descriptorLimit: Int = descriptorLimit()) -> Int {
        max(16, min(4096, descriptorLimit / 2))
    }

    /// Why these limits cannot be used, if they cannot (names the flag).
    public func problem(descriptorLimit: Int = descriptorLimit()) -> String? {
        for (flag, value) in [("--head-timeout", headSeconds), ("--body-timeout", bodyIdleSeconds), ("--keep-alive", keepAliveSeconds)]
        where !(value.isFinite && value > 0 && value <= 3600) {
            return "\(flag) must be in (0, 3600] seconds (got \(value))"
        }
        let ceiling = max(1, descriptorLimit - 64)
        if !(1...ceiling).contains(maxConnections) {
            return "--max-connections must be in 1...\(ceiling) (the descriptor limit is \(descriptorLimit), and the coordinator needs some for itself; got \(maxConnections))"
        }
        return nil
    }
}

/// The deadline a connection is held to, from the events on it: a pure value, so the rules are
/// tested without clocks. Times are seconds on any monotonic clock.
///
/// - A new connection must deliver a request head within `headSeconds` (TLS handshake included).
/// - Between requests (kept alive) it may wait `keepAliveSeconds`; its first byte starts the
///   head's `headSeconds`.
/// - While a body is read, each byte must come within `bodyIdleSeconds` of the one before.
/// - While the coordinator answers, no deadline: the handler is working, not the client.
public struct ConnectionTimeline: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// Waiting for a head; `started` is when the head's clock started.
        case head(started: Double)
        /// Kept alive with nothing sent since `since`.
        case idle(since: Double)
        /// Reading a body; `lastByte` is when the last bytes came; `answered` when the answer
        /// went out before the body ended (a refusal: the rest is read and dropped).
        case body(lastByte: Double, answered: Bool)
        /// The request is read; the coordinator is answering.
        case answering(bytesWaiting: Bool)
    }

    public private(set) var phase: Phase
    public let limits: ConnectionLimits

    public init(openedAt now: Double, limits: ConnectionLimits) {
        self.phase = .head(started: now)
        self.limits = limits
    }

    /// Bytes arrived (after TLS: the request's own bytes).
    public mutating func bytesArrived(at now: Double) {
        switch phase {
        case .idle: phase = .head(started: now)
        case let .body(_, answered): phase = .body(lastByte: now, answered: answered)
        case .answering: phase = .answering(bytesWaiting: true) // pipelined: the next head's clock starts after the answer
        case .head: break
        }
    }

    /// A request's head was decoded.
    public mutating func headArrived(at now: Double) { phase = .body(lastByte: now, answered: false) }

    /// A request was read to its end.
    public mutating func requestEnded(at now: Double) {
        if case .body(_, answered: true) = phase { phase = .idle(since: now) } else { phase = .answering(bytesWaiting: false) }
    }

    /// The answer was written.
    public mutating func answered(at now: Double) {
        switch phase {
        case let .answering(bytesWaiting): phase = bytesWaiting ? .head(started: now) : .idle(since: now)
        case let .body(lastByte, _): phase = .body(lastByte: lastByte, answered: true)
        case .head, .idle: break
        }
    }

    /// When the connection is to be closed if nothing happens before; nil while answering.
    public var deadline: Double? {
        switch phase {
        case let .head(started): started + limits.headSeconds
        case let .idle(since): since + limits.keepAliveSeconds
        case let .body(lastByte, _): lastByte + limits.bodyIdleSeconds
        case .answering: nil
        }
    }

    /// Why the connection is closed at `now`, or nil if it may stay.
    public func expiry(at now: Double) -> String? {
        guard let deadline, now >= deadline else { return nil }
        switch phase {
        case .head: return "no complete request head within \(limits.headSeconds) s"
        case .idle: return "idle for \(limits.keepAliveSeconds) s between requests"
        case .body: return "request body idle for \(limits.bodyIdleSeconds) s"
        case .answering: return nil
        }
    }
}
