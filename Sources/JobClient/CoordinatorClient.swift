import JobProtocol
import AdaNegCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix

/// Why a call to the coordinator failed for good (transport errors are retried first).
public enum ClientError: Error, CustomStringConvertible {
    case http(status: Int, message: String, path: String)
    case unreachable(url: String, underlying: String)
    case malformedReply(path: String, reason: String)
    /// The coordinator's certificate failed verification (or TLS failed outright): never
    /// retried, never bypassed.
    case tls(host: String, reason: String)

    public var description: String {
        switch self {
        case let .tls(host, reason): "cannot make a trusted TLS connection to the coordinator at \(host): \(reason)"
        case let .http(status, message, path) where message.isEmpty:
            // An answer without adaneg's error body: the URL reaches some other server, or a
            // path that is not the coordinator's API.
            "coordinator answered \(status) to \(path) with no message: is the URL an adaneg coordinator's address (scheme, host and port only)?"
        case let .http(status, message, path): "coordinator answered \(status) to \(path): \(message)"
        case let .unreachable(url, underlying): "coordinator at \(url) unreachable: \(underlying)"
        case let .malformedReply(path, reason): "malformed reply from \(path): \(reason)"
        }
    }

    public var status: Int? {
        if case let .http(status, _, _) = self { return status }
        return nil
    }
}

/// One retry of a call to an unreachable (or failing) coordinator, for the log.
public struct RetryEvent: Sendable {
    public var url: String
    /// "connection refused", "timed out", "HTTP 503: …".
    public var reason: String
    /// 1 for the first retry.
    public var attempt: Int
    /// Seconds until the next try.
    public var delay: Double
    /// Seconds of patience left (nil: retrying forever).
    public var remaining: Double?

    /// One log line: when (the logger adds the time), why, and when the next try is.
    public var message: String {
        let left = remaining.map { "; giving up in \(String(format: "%.0f", $0)) s" } ?? "; retrying until the coordinator is back"
        return "coordinator \(url): \(reason); retry \(attempt) in \(String(format: "%.1f", delay)) s\(left)"
    }
}

/// The coordinator's HTTP API from the worker's (and CLI's) side. Transport failures and 5xx
/// answers are retried with exponential backoff and jitter (capped at `maxRetryDelay`) for up
/// to `retryWindow` seconds, so workers ride out a coordinator restart or outage; each retry
/// is reported to `onRetry`. Cancelling the calling task ends a call at once, mid-wait too.
public struct CoordinatorClient: Sendable, BankSync {
    public let base: URL
    let token: String?
    /// Whom an https:// coordinator's certificate must be signed by.
    let trust: TLSTrust
    /// AsyncHTTPClient's pooled keep-alive connections (http and https), shared by every
    /// client in the process with the same connect timeout.
    let http: HTTPClient
    /// Seconds a request may take from sending to the last byte of its reply.
    let timeout: Double
    /// Seconds to keep retrying a failing call; 0: one try; `.infinity`: forever.
    public var retryWindow: Double
    /// The backoff doubles from `firstRetryDelay` up to this cap.
    public var maxRetryDelay: Double = 30
    public var firstRetryDelay: Double = 0.1
    /// Called before each wait between tries.
    public var onRetry: (@Sendable (RetryEvent) -> Void)?

    /// - Parameters:
    ///   - timeout: seconds a request may wait for its reply.
    ///   - connectTimeout: seconds to establish a connection (default: `timeout`); the
    ///     one-shot commands use a few seconds, so an unreachable host fails fast while a slow
    ///     answer (planning a large job) is still waited for.
    ///   - connectionsPerHost: the pool's connections to the coordinator (a worker needs two or
    ///     three; a simulated fleet in one process, one or two per simulated worker).
    public init(base: URL, token: String? = nil, retryWindow: Double = 120, timeout: Double = 60,
                connectTimeout: Double? = nil, connectionsPerHost: Int = 16, caFile: String? = nil,
                onRetry: (@Sendable (RetryEvent) -> Void)? = nil) {
        self.base = base
        self.trust = TLSTrust(caFile: caFile)
        self.token = token
        self.retryWindow = retryWindow
        self.onRetry = onRetry
        self.timeout = min(max(timeout, 0.001), 86_400)
        // One pool per process: a worker uses two or three connections at once (lease or
        // completion, bank sync, heartbeat); in-process clusters (tests, benchmarks) share it
        // among many clients, so the cap is theirs, not a worker's.
        http = SharedHTTPClient.client(.init(connectTimeout: connectTimeout ?? timeout, connectionsPerHost: connectionsPerHost, trust: trust))
    }

    // MARK: Calls

    public func lease(worker: String, host: String) async throws -> LeaseResponse {
        try await json("POST", "/v1/leases", body: LeaseRequest(worker: worker, host: host))
    }

    /// `GET /v1/units/{unit}/rows`: the leased unit's feature-file rows (`UnitRowsWire`).
    public func rows(unit: Int64, worker: String, attempt: Int) async throws -> UnitRows {
        // Every character but unreserved ones escaped: a '+' in a worker id must not read as a space.
        let id = worker.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "-._~").union(.alphanumerics)) ?? worker
        let path = "/v1/units/\(unit)/rows"
        let data = try await send("GET", path + "?worker=\(id)&attempt=\(attempt)", body: nil, contentType: "application/json")
        do {
            return try UnitRowsWire.decode(data)
        } catch {
            throw ClientError.malformedReply(path: path, reason: error.description)
        }
    }

    public func heartbeat(unit: Int64, worker: String) async throws -> Bool {
        do {
            _ = try await send("POST", "/v1/units/\(unit)/heartbeat", body: try encode(UnitRequest(worker: worker)), contentType: "application/json")
            return true
        } catch let error as ClientError where error.status == 409 {
            return false
        }
    }

    public func complete(unit: Int64, _ request: CompletionRequest) async throws -> CompletionOutcome {
        let reply: CompletionResponse = try await json("POST", "/v1/units/\(unit)/complete", body: request)
        return reply.outcome
    }

    public func fail(unit: Int64, worker: String, error: String) async throws {
        _ = try await send("POST", "/v1/units/\(unit)/fail", body: try encode(UnitRequest(worker: worker, error: RequestSizes.shortened(error))), contentType: "application/json")
    }

    public func release(unit: Int64, worker: String) async throws {
        _ = try await send("POST", "/v1/units/\(unit)/release", body: try encode(UnitRequest(worker: worker)), contentType: "application/json")
    }

    public func plan(job: Int64) async throws -> WorkPlan {
        try await json("GET", "/v1/plans/\(job)", body: nil as LeaseRequest?)
    }

    /// One bank sync (`BankWire` format 2): the request's entries go out as float32, the reply's
    /// come back as float16; the reply records both bodies' sizes as sent.
    public func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
        let (path, pushed, data) = try await bankExchange(task: task, request, dimension: dimension)
        do {
            return try Self.measured(BankWire.decodeReply(data, dimension: dimension), pushed: pushed, pulled: data.count)
        } catch {
            throw ClientError.malformedReply(path: path, reason: error.description)
        }
    }

    /// A bank sync whose reply is checked as `syncBank` checks it but whose entries are not
    /// decoded: their rows instead. For the scale simulator: its thousand workers share one
    /// process and merge nothing, and widening every pulled feature is work real workers do on
    /// their own machines. The bytes sent and received are the same.
    public func syncBankRows(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> (reply: BankSyncReply, rows: [Int]) {
        let (path, pushed, data) = try await bankExchange(task: task, request, dimension: dimension)
        do {
            let (header, reply) = try BankWire.decodeReplyHeader(data, dimension: dimension)
            return (Self.measured(reply, pushed: pushed, pulled: data.count), BankWire.entryRows(data, header))
        } catch {
            throw ClientError.malformedReply(path: path, reason: error.description)
        }
    }

    /// One bank sync on the wire: the path, the bytes sent, the reply's bytes.
    private func bankExchange(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> (path: String, pushed: Int, reply: Data) {
        let path = "/v1/tasks/\(task)/bank"
        let body = BankWire.encode(request, dimension: dimension)
        return (path, body.count, try await send("POST", path, body: body, contentType: "application/octet-stream"))
    }

    private static func measured(_ reply: BankSyncReply, pushed: Int, pulled: Int) -> BankSyncReply {
        var reply = reply
        reply.pushedBytes = pushed
        reply.pulledBytes = pulled
        return reply
    }

    public func submit(yaml: String, baseDirectory: String) async throws -> SubmitResponse {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "base", value: baseDirectory)]
        let data = try await send("POST", "/v1/jobs" + (components.percentEncodedQuery.map { "?\($0)" } ?? ""), body: Data(yaml.utf8), contentType: "application/yaml")
        return try decode(data, path: "/v1/jobs")
    }

    public func status(job: String) async throws -> JobStatus {
        try await json("GET", "/v1/jobs/\(escape(job))", body: nil as LeaseRequest?)
    }

    public func progress(job: String) async throws -> JobProgress {
        try await json("GET", "/v1/jobs/\(escape(job))/progress", body: nil as LeaseRequest?)
    }

    public func results(job: String, task: Int64) async throws -> TaskResults {
        try await json("GET", "/v1/jobs/\(escape(job))/results?task=\(task)", body: nil as LeaseRequest?)
    }

    /// The coordinator's Prometheus exposition (`GET /metrics`), as text.
    public func metrics() async throws -> String {
        String(decoding: try await send("GET", "/metrics", body: nil, contentType: "text/plain"), as: UTF8.self)
    }

    // MARK: Transport

    private func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
    }

    /// Request bodies as JSON. Slashes are written as they are: the base64 columns of a
    /// completion are full of them, and `\/` escapes send the coordinator's decoder down its slow
    /// string path (same JSON value either way).
    private func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return try encoder.encode(value)
    }

    private func decode<T: Decodable>(_ data: Data, path: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ClientError.malformedReply(path: path, reason: "\(error)")
        }
    }

    private func json<T: Decodable, B: Encodable>(_ method: String, _ path: String, body: B?) async throws -> T {
        let data = try await send(method, path, body: try body.map(encode), contentType: "application/json")
        return try decode(data, path: path)
    }

    /// The largest reply read: a plan with its text features or a task's results are tens of
    /// megabytes at ImageNet scale; a reply beyond this is a broken or hostile peer.
    static let maxReplyBytes = 1 << 30

    func send(_ method: String, _ path: String, body: Data?, contentType: String) async throws -> Data {
        let url = base.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path
        guard URL(string: url) != nil else {
            throw ClientError.unreachable(url: base.absoluteString + path, underlying: "invalid URL")
        }
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Content-Type", value: contentType)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        return try await retrying(path) {
            let (status, data) = try await exchange(request)
            return (200..<300).contains(status) ? .success(data) : .failure(status: status, body: data)
        }
    }

    /// What one try of a call gave: its value, or an HTTP error status and body.
    enum Attempt<T> {
        case success(T)
        case failure(status: Int, body: Data)
    }

    /// An error of the caller's own (writing a download to disk), never retried.
    struct LocalFailure: Error {
        var underlying: any Error
    }

    /// Runs `once` until it succeeds: transport failures and 5xx answers are retried with
    /// backoff within `retryWindow`; a 4xx, a `ClientError` or a `LocalFailure` ends the call.
    private func retrying<T>(_ path: String, _ once: () async throws -> Attempt<T>) async throws -> T {
        let deadline = Date().addingTimeInterval(retryWindow)
        var attempt = 0
        while true {
            var reason = ""
            do {
                try Task.checkCancellation()
                switch try await once() {
                case let .success(value): return value
                case let .failure(status, data):
                    let message = Self.errorMessage(data)
                    guard status >= 500 else { throw ClientError.http(status: status, message: message, path: path) }
                    reason = "HTTP \(status): \(message.prefix(200))"
                    guard Date() < deadline else { throw ClientError.http(status: status, message: message, path: path) }
                }
            } catch let error as ClientError {
                throw error
            } catch let error as LocalFailure {
                throw error.underlying
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                // A certificate that fails verification is no outage: it ends the call at once.
                if let host = base.host, let why = await TLSFailure.reason(error, host: host, port: base.port ?? (base.scheme == "https" ? 443 : 80), trust: trust) {
                    throw ClientError.tls(host: host, reason: why)
                }
                reason = Self.transportReason(error, timeout: timeout)
                guard Date() < deadline else { throw ClientError.unreachable(url: base.absoluteString, underlying: reason) }
            }
            attempt += 1
            let delay = Self.backoff(attempt: attempt, first: firstRetryDelay, cap: maxRetryDelay, jitter: Double.random(in: 0...1))
            let remaining = retryWindow.isFinite ? max(0, deadline.timeIntervalSinceNow) : nil
            let wait = min(delay, remaining ?? delay)
            onRetry?(RetryEvent(url: base.absoluteString, reason: reason, attempt: attempt, delay: wait, remaining: remaining))
            // Throws CancellationError at once when the worker is told to stop.
            try await Task.sleep(nanoseconds: UInt64(max(wait, 0.001) * 1e9))
        }
    }

    /// Streams artefact `digest` (`GET /v1/artefacts/{sha256}`) to `write`, chunk by chunk.
    /// `restart` runs before every try (truncating what an interrupted try wrote); a reply
    /// longer than the digest's size is cut off with an error, so a broken or hostile peer
    /// cannot fill the disk. The deadline allows the declared size at 1 MiB/s on top of
    /// `timeout`. Errors thrown by `restart` or `write` end the call as they are. Returns the
    /// number of bytes written.
    public func download(artefact digest: ArtefactDigest, restart: () throws -> Void,
                         write: (ByteBuffer) throws -> Void) async throws -> Int {
        let path = "/v1/artefacts/\(digest.sha256)"
        var request = HTTPClientRequest(url: base.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let seconds = timeout + Double(digest.bytes) / Double(1 << 20)
        return try await retrying(path) {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(min(seconds, 86_400 * 7) * 1e9)))
            guard (200..<300).contains(Int(response.status.code)) else {
                return .failure(status: Int(response.status.code), body: Data(buffer: try await response.body.collect(upTo: 1 << 16)))
            }
            do { try restart() } catch { throw LocalFailure(underlying: error) }
            var received = 0
            for try await chunk in response.body {
                received += chunk.readableBytes
                guard received <= digest.bytes else {
                    throw ClientError.malformedReply(path: path, reason: "more than the \(digest.bytes) bytes the plan records")
                }
                do { try write(chunk) } catch { throw LocalFailure(underlying: error) }
            }
            return .success(received)
        }
    }

    /// One request and its whole reply, within `timeout` (AsyncHTTPClient's deadline covers
    /// the body as well: a peer that stops sending mid-reply fails the request too).
    private func exchange(_ request: HTTPClientRequest) async throws -> (status: Int, body: Data) {
        let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout * 1e9)))
        let bytes = try await response.body.collect(upTo: Self.maxReplyBytes)
        return (Int(response.status.code), Data(buffer: bytes))
    }

    /// Exponential backoff with jitter: the n-th retry waits between half and all of
    /// `first × 2^(n−1)`, capped, so workers that lost the same coordinator do not all come
    /// back in the same instant.
    public static func backoff(attempt: Int, first: Double, cap: Double, jitter: Double) -> Double {
        let exponent = Double(min(max(attempt - 1, 0), 60))
        let full = min(cap, first * pow(2, exponent))
        return full * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }

    /// A transport failure in words a user can act on ("connection refused", "timed out"),
    /// not the network library's internals. `timeout` is the request's limit, for the message.
    public static func transportReason(_ error: any Error, timeout: Double? = nil) -> String {
        if let failure = error as? HTTPClientError {
            switch failure {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return "timed out" + (timeout.map { " (no reply from the coordinator within \(seconds($0)) s)" } ?? "")
            case .connectTimeout, .getConnectionFromPoolTimeout: return "timed out (no answer to the connection)"
            case .remoteConnectionClosed: return "connection closed mid-request"
            default: break
            }
        }
        if error is NIOTooManyBytesError { return "reply larger than \(maxReplyBytes >> 20) MiB" }
        if let io = error as? IOError { return describe(errno: io.errnoCode) }
        if let channel = error as? ChannelError {
            switch channel {
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed: return "connection closed"
            case .connectTimeout: return "timed out (no answer to the connection)"
            default: break
            }
        }
        if let connection = error as? NIOConnectionError {
            if let io = connection.connectionErrors.lazy.compactMap({ $0.error as? IOError }).first { return describe(errno: io.errnoCode) }
            if connection.connectionErrors.contains(where: { if case ChannelError.connectTimeout = $0.error { true } else { false } }) {
                return "timed out (no answer to the connection)"
            }
            if connection.dnsAError != nil || connection.dnsAAAAError != nil { return "host name \(connection.host) not found" }
            return "cannot connect to \(connection.host):\(connection.port)"
        }
        return String("\(error)".split(separator: "\n").first ?? "").prefix(200).description
    }

    /// "5", "0.3": seconds as a user wrote them, without a trailing ".0".
    private static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func describe(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connection refused"
        case ETIMEDOUT: "timed out"
        case ECONNRESET: "connection reset"
        case EHOSTUNREACH, ENETUNREACH: "host unreachable"
        default: String(cString: strerror(code))
        }
    }

    /// Hummingbird's error body is `{"error":{"message":"..."}}`.
    static func errorMessage(_ data: Data) -> String {
        struct Envelope: Decodable { struct Inner: Decodable { var message: String? }; var error: Inner }
        if let e = try? JSONDecoder().decode(Envelope.self, from: data), let m = e.error.message { return m }
        return String(decoding: data.prefix(500), as: UTF8.self)
    }
}
