import Foundation
import JobProtocol

/// Fleet sweeps over HTTP: the CLI's submit and follow calls, and the worker's `SweepAPI`.
extension CoordinatorClient: SweepAPI {
    /// `POST /v1/sweeps`: submits a grid (or finds it, when it was submitted before).
    public func submitSweep(_ request: SweepRequest) async throws -> SweepStatus {
        try await sweepJSON("POST", "/v1/sweeps", body: try JSONEncoder().encode(request))
    }

    /// `GET /v1/sweeps/{id}`.
    public func sweepStatus(id: String) async throws -> SweepStatus {
        try await sweepJSON("GET", "/v1/sweeps/\(Self.sweepPath(id))", body: nil)
    }

    /// `GET /v1/sweeps/{id}/results`.
    public func sweepResults(id: String) async throws -> SweepResults {
        try await sweepJSON("GET", "/v1/sweeps/\(Self.sweepPath(id))/results", body: nil)
    }

    public func leaseSweep(worker: String, host: String) async throws -> SweepLeaseResponse {
        try await sweepJSON("POST", "/v1/sweep-leases", body: try JSONEncoder().encode(LeaseRequest(worker: worker, host: host)))
    }

    public func sweepFeatures(unit: Int64, worker: String, attempt: Int) async throws -> SweepFeatures {
        let id = worker.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "-._~").union(.alphanumerics)) ?? worker
        let path = "/v1/sweep-units/\(unit)/features"
        let data = try await send("GET", path + "?worker=\(id)&attempt=\(attempt)", body: nil, contentType: "application/json")
        do {
            return try SweepFeatures.decode(data)
        } catch {
            throw ClientError.malformedReply(path: path, reason: error.description)
        }
    }

    public func heartbeatSweep(unit: Int64, worker: String, attempt: Int) async throws -> Bool {
        do {
            _ = try await send("POST", "/v1/sweep-units/\(unit)/heartbeat", body: try JSONEncoder().encode(SweepUnitRequest(worker: worker, attempt: attempt)),
                               contentType: "application/json")
            return true
        } catch let error as ClientError where error.status == 409 {
            return false
        }
    }

    public func completeSweep(unit: Int64, _ completion: SweepCompletion) async throws -> Bool {
        let reply: CompletionResponse = try await sweepJSON("POST", "/v1/sweep-units/\(unit)/complete", body: try JSONEncoder().encode(completion))
        return reply.outcome == .accepted
    }

    public func failSweep(unit: Int64, worker: String, attempt: Int, error: String) async throws {
        let body = SweepUnitRequest(worker: worker, attempt: attempt, error: RequestSizes.shortened(error))
        _ = try await send("POST", "/v1/sweep-units/\(unit)/fail", body: try JSONEncoder().encode(body), contentType: "application/json")
    }

    private func sweepJSON<T: Decodable>(_ method: String, _ path: String, body: Data?) async throws -> T {
        let data = try await send(method, path, body: body, contentType: "application/json")
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ClientError.malformedReply(path: path, reason: "\(error)")
        }
    }

    private static func sweepPath(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id
    }
}
