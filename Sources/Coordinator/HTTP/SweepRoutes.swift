import Foundation
import Hummingbird
import JobProtocol
import JobStore
import NIOCore
import Platform

/// The fleet-sweep routes (`sweep --coordinator`): submit a grid and follow it (the role that
/// submits jobs, and readers), and the worker's calls on sweep units (lease, the unit's task
/// features, heartbeat, complete, fail). Documented in `openapi.yaml`; roles in `AccessPolicy`.
struct SweepRoutes {
    let coordinator: Coordinator
    let maxBodyBytes: Int

    /// A completion holds one small set report per point of a unit.
    static let completionBytes = 1 << 20

    func register(on router: Router<BasicRequestContext>) {
        let c = coordinator
        let limit = maxBodyBytes

        router.post("/v1/sweeps") { request, _ -> SweepStatus in
            let body: SweepRequest = try await CoordinatorRoutes.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            return try await c.submitSweep(body)
        }

        router.get("/v1/sweeps/:id") { _, context -> SweepStatus in
            try await c.sweepStatus(id: try Self.sweepID(context))
        }

        router.get("/v1/sweeps/:id/results") { _, context -> SweepResults in
            try await c.sweepResults(id: try Self.sweepID(context))
        }

        router.post("/v1/sweep-leases") { request, _ -> SweepLeaseResponse in
            let body: LeaseRequest = try await CoordinatorRoutes.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try CoordinatorRoutes.checkIdentity(worker: body.worker, host: body.host)
            return try await c.leaseSweep(worker: body.worker, host: body.host)
        }

        router.get("/v1/sweep-units/:unit/features") { request, context -> Response in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let (worker, attempt) = try CoordinatorRoutes.leaseHolder(request)
            let features = try await c.sweepFeatures(unit: unit, worker: worker, attempt: attempt)
            let size = features.byteCount
            let buffer = await BlockingIO.run { () -> ByteBuffer in
                var buffer = ByteBufferAllocator().buffer(capacity: size)
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                    features.write(into: UnsafeMutableRawBufferPointer(rebasing: out[0..<size]))
                    return size
                }
                return buffer
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(size)],
                            body: .init(byteBuffer: buffer))
        }

        router.post("/v1/sweep-units/:unit/heartbeat") { request, context -> HTTPResponse.Status in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: SweepUnitRequest = try await CoordinatorRoutes.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try CoordinatorRoutes.checkIdentity(worker: body.worker)
            guard try await c.heartbeatSweep(unit: unit, worker: body.worker, attempt: body.attempt) else {
                throw StoreError.notLeaseHolder(unit: unit, worker: body.worker)
            }
            return .noContent
        }

        router.post("/v1/sweep-units/:unit/complete") { request, context -> CompletionResponse in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: SweepCompletion = try await CoordinatorRoutes.json(request, limit: min(limit, Self.completionBytes))
            try CoordinatorRoutes.checkIdentity(worker: body.worker)
            return CompletionResponse(outcome: try await c.completeSweep(unit: unit, body) ? .accepted : .duplicate)
        }

        router.post("/v1/sweep-units/:unit/fail") { request, context -> HTTPResponse.Status in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: SweepUnitRequest = try await CoordinatorRoutes.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try CoordinatorRoutes.checkIdentity(worker: body.worker)
            let error = RequestSizes.shortened(body.error ?? "unspecified")
            guard try await c.failSweep(unit: unit, worker: body.worker, attempt: body.attempt, error: error) != nil else {
                throw StoreError.notLeaseHolder(unit: unit, worker: body.worker)
            }
            return .noContent
        }
    }

    /// A sweep id: 32 lower-case hex digits (`Coordinator.sweepID`); anything else is 400.
    static func sweepID(_ context: BasicRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        guard id.count == 32, id.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw HTTPError(.badRequest, message: "sweep ids are 32 lower-case hex digits (as POST /v1/sweeps answers them)")
        }
        return id
    }
}

extension CoordinatorRoutes {
    /// The `worker` and `attempt` query parameters of a lease holder's GET (a unit's rows, a
    /// sweep unit's features): 400 naming a missing or malformed one.
    static func leaseHolder(_ request: Request) throws -> (worker: String, attempt: Int) {
        guard let worker = request.uri.queryParameters.get("worker") else {
            throw HTTPError(.badRequest, message: "query parameter 'worker' (the lease holder's id) is required")
        }
        try checkIdentity(worker: worker)
        guard let text = request.uri.queryParameters.get("attempt") else {
            throw HTTPError(.badRequest, message: "query parameter 'attempt' (the lease's attempt) is required")
        }
        guard let attempt = Int(text), attempt >= 0 else {
            throw HTTPError(.badRequest, message: "query parameter 'attempt': '\(text.prefix(40))' is not an attempt number (an integer, 0 or more)")
        }
        return (worker, attempt)
    }
}

/// A refused sweep request answers as itself: 400 naming the field, 409 for a job without
/// stored features, 404 for an unknown sweep.
extension SweepRefusal: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch self {
        case .invalid: .badRequest
        case .noFeatures: .conflict
        case .unknown: .notFound
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try HTTPError(status, message: description).response(from: request, context: context)
    }
}

extension SweepStatus: ResponseEncodable {}
extension SweepResults: ResponseEncodable {}
extension SweepLeaseResponse: ResponseEncodable {}
