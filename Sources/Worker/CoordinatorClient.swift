import AdaNeg
import Coordinator
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why a call to the coordinator failed for good (transport errors are retried first).
public enum ClientError: Error, CustomStringConvertible {
    case http(status: Int, message: String, path: String)
    case unreachable(url: String, underlying: String)
    case malformedReply(path: String, reason: String)

    public var description: String {
        switch self {
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

/// The coordinator's HTTP API from the worker's (and CLI's) side. Transport failures and 5xx
/// answers are retried with exponential backoff for up to `retryWindow` seconds, so workers
/// ride out a coordinator restart.
public struct CoordinatorClient: Sendable {
    public let base: URL
    let token: String?
    let session: URLSession
    /// Persistent connections for `http://` coordinators.
    let keepAlive: KeepAliveHTTP?
    public var retryWindow: Double

    public init(base: URL, token: String? = nil, retryWindow: Double = 120, timeout: Double = 60) {
        self.base = base
        self.token = token
        self.retryWindow = retryWindow
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.httpMaximumConnectionsPerHost = 4
        session = URLSession(configuration: configuration)
        if base.scheme == "http", let host = base.host {
            keepAlive = KeepAliveHTTP(host: host, port: base.port ?? 80, timeout: timeout)
        } else {
            keepAlive = nil
        }
    }

    // MARK: Calls

    public func lease(worker: String, host: String) async throws -> LeaseResponse {
        try await json("POST", "/v1/leases", body: LeaseRequest(worker: worker, host: host))
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
        _ = try await send("POST", "/v1/units/\(unit)/fail", body: try encode(UnitRequest(worker: worker, error: error)), contentType: "application/json")
    }

    public func release(unit: Int64, worker: String) async throws {
        _ = try await send("POST", "/v1/units/\(unit)/release", body: try encode(UnitRequest(worker: worker)), contentType: "application/json")
    }

    public func plan(job: Int64) async throws -> WorkPlan {
        try await json("GET", "/v1/plans/\(job)", body: nil as LeaseRequest?)
    }

    public func syncBank(task: Int64, since: Int64, delta: BankDelta, dimension: Int) async throws -> (delta: BankDelta, version: Int64) {
        let path = "/v1/tasks/\(task)/bank"
        let data = try await send("POST", path, body: BankWire.encode(delta, dimension: dimension, version: since), contentType: "application/octet-stream")
        do {
            return try BankWire.decode(data, dimension: dimension)
        } catch {
            throw ClientError.malformedReply(path: path, reason: error.description)
        }
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

    public func results(job: String, task: Int64) async throws -> TaskResults {
        try await json("GET", "/v1/jobs/\(escape(job))/results?task=\(task)", body: nil as LeaseRequest?)
    }

    // MARK: Transport

    private func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
    }

    private func encode<T: Encodable>(_ value: T) throws -> Data { try JSONEncoder().encode(value) }

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

    func send(_ method: String, _ path: String, body: Data?, contentType: String) async throws -> Data {
        guard let url = URL(string: base.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path) else {
            throw ClientError.unreachable(url: base.absoluteString + path, underlying: "invalid URL")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let deadline = Date().addingTimeInterval(retryWindow)
        var delay = 0.05
        var headers = [("Content-Type", contentType)]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        let requestPath = (components?.percentEncodedPath ?? url.path) + (components?.percentEncodedQuery.map { "?\($0)" } ?? "")
        while true {
            do {
                let data: Data
                let status: Int
                if let keepAlive {
                    let reply = try await keepAlive.send(method: method, path: requestPath, headers: headers, body: body)
                    (data, status) = (reply.body, reply.status)
                } else {
                    let (d, response) = try await session.data(for: request)
                    (data, status) = (d, (response as? HTTPURLResponse)?.statusCode ?? 0)
                }
                if (200..<300).contains(status) { return data }
                let message = Self.errorMessage(data)
                if status >= 500, Date() < deadline {
                    try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                    delay = min(delay * 2, 2)
                    continue
                }
                throw ClientError.http(status: status, message: message, path: path)
            } catch let error as ClientError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard Date() < deadline else { throw ClientError.unreachable(url: url.absoluteString, underlying: "\(error)") }
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                delay = min(delay * 2, 2)
            }
        }
    }

    /// Hummingbird's error body is `{"error":{"message":"..."}}`.
    static func errorMessage(_ data: Data) -> String {
        struct Envelope: Decodable { struct Inner: Decodable { var message: String? }; var error: Inner }
        if let e = try? JSONDecoder().decode(Envelope.self, from: data), let m = e.error.message { return m }
        return String(decoding: data.prefix(500), as: UTF8.self)
    }
}
