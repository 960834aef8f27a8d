import AdaNegCore
import Foundation
import Hummingbird
import JobPlan
import JobProtocol
import JobSpec
import Platform
import JobStore
import Logging
import NIOCore

/// The coordinator's HTTP API (documented in `openapi.yaml`; a test keeps the two in sync).
struct CoordinatorRoutes {
    let coordinator: Coordinator
    let maxBodyBytes: Int

    /// Every registered route as "METHOD /path/{param}", read back from the router itself:
    /// what `openapi.yaml` must describe.
    static func registeredRoutes(coordinator: Coordinator) -> [String] {
        let router = Router()
        ObservabilityRoutes(coordinator: coordinator).register(on: router)
        CoordinatorRoutes(coordinator: coordinator, maxBodyBytes: 1).register(on: router)
        return router.routes.map { "\($0.method) \($0.path)" }
    }

    func register(on router: Router<BasicRequestContext>) {
        let c = coordinator
        let limit = maxBodyBytes
        router.get("/v1/health") { _, _ in ["status": "ok"] }
        // Fleet sweeps (`sweep --coordinator`): their own file.
        SweepRoutes(coordinator: c, maxBodyBytes: limit).register(on: router)

        router.get("/v1/jobs") { _, _ in
            try await c.jobs().map { JobListing(id: $0.id, name: $0.name, createdAt: $0.createdAt) }
        }

        router.post("/v1/jobs") { request, _ -> SubmitResponse in
            let body = try await Self.specBody(request, limit: min(limit, JobSpecLoader.maxSpecBytes))
            guard let yaml = String(data: body, encoding: .utf8) else { throw HTTPError(.badRequest, message: "job spec is not UTF-8 text") }
            let base = request.uri.queryParameters.get("base") ?? FileManager.default.currentDirectoryPath
            // Validation reads the files the spec names: off the cooperative pool. A spec that
            // does not validate answers 400 listing its problems (`JobSpecError: HTTPResponseError`).
            let spec = try await BlockingIO.run { () throws(JobSpecError) in try JobSpecLoader.parse(yaml: yaml, baseDirectory: base) }
            let reply = try await c.submit(spec)
            // The job keeps the name of the token that submitted it (status shows it; a
            // `submit` token may cancel only its own jobs).
            if let caller = RequestCaller.current { try await c.recordSubmitter(job: reply.job, name: caller.name) }
            return reply
        }

        router.post("/v1/jobs/:name/cancel") { _, context -> CancelResponse in
            let name = try context.parameters.require("name")
            let owner = try await c.ownership(job: name)
            if let caller = RequestCaller.current, caller.role == .submit, owner.submittedBy != caller.name {
                throw HTTPError(.forbidden, message: "token '\(caller.name)' has role submit, which cancels only the jobs it submitted; job '\(name)' was submitted by "
                                + (owner.submittedBy.map { "token '\($0)'" } ?? "no named token") + ": cancelling it needs role admin")
            }
            return try await c.cancel(job: name)
        }

        router.get("/v1/jobs/:name") { _, context -> JobStatus in
            let name = try context.parameters.require("name")
            return try await c.status(job: name)
        }

        router.get("/v1/jobs/:name/results") { request, context -> TaskResults in
            let name = try context.parameters.require("name")
            guard let task = request.uri.queryParameters.get("task", as: Int64.self) else {
                throw HTTPError(.badRequest, message: "query parameter 'task' (a task id) is required")
            }
            let job = try await c.job(named: name)
            guard try await c.tasks(job: job.id).contains(where: { $0.id == task }) else { throw StoreError.unknownTask(task) }
            return TaskResults(task: task, results: try await c.results(task: task))
        }

        router.get("/v1/plans/:job") { _, context -> WorkPlan in
            let job = try context.parameters.require("job", as: Int64.self)
            return try await c.plan(job: job)
        }

        router.get("/v1/artefacts/:sha256") { _, context -> Response in
            let digest = try context.parameters.require("sha256")
            guard ArtefactDigest.isSHA256(digest) else {
                throw HTTPError(.badRequest, message: "artefacts are addressed by their sha256: 64 lower-case hex digits")
            }
            guard let file = try await c.artefact(sha256: digest) else {
                throw HTTPError(.notFound, message: "no job names a file with sha256 \(digest)")
            }
            // The worker verifies every byte; a size that moved is refused here already, saying
            // which file, since no worker could use it.
            // A FIFO or a device put in the file's place is never opened (it would block or never end).
            let size = RegularFile.isRegular(file.path) ? (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? nil : nil
            guard let size, size == file.bytes else {
                throw HTTPError(.conflict, message: "\(file.path) on the coordinator " + (size.map { "is \($0) bytes now, \(file.bytes) when the job was submitted" } ?? "cannot be read any more") + ": its job needs it unchanged")
            }
            let body = try await FileIO().loadFile(path: file.path, context: context, chunkLength: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(size)], body: body)
        }

        router.post("/v1/leases") { request, _ -> LeaseResponse in
            let body: LeaseRequest = try await Self.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try Self.checkIdentity(worker: body.worker, host: body.host)
            return try await c.lease(worker: body.worker, host: body.host)
        }

        // The leased unit's feature-file rows, binary (`UnitRowsWire`), for its lease holder only;
        // built outside the actor and written straight into the response buffer.
        router.get("/v1/units/:unit/rows") { request, context -> Response in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let (worker, attempt) = try Self.leaseHolder(request)
            let rows = try await c.unitRows(unit: unit, worker: worker, attempt: attempt)
            let size = rows.byteCount
            let (buffer, failure) = await BlockingIO.run { () -> (ByteBuffer, StoreError?) in
                var buffer = ByteBufferAllocator().buffer(capacity: size)
                var failure: StoreError?
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                    do throws(StoreError) { try rows.write(into: UnsafeMutableRawBufferPointer(rebasing: out[0..<size])) } catch { failure = error }
                    return size
                }
                return (buffer, failure)
            }
            if let failure { try await c.rowsUnreadable(unit: unit, worker: worker, failure) }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(size)],
                            body: .init(byteBuffer: buffer))
        }

        router.post("/v1/units/:unit/heartbeat") { request, context -> HTTPResponse.Status in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: UnitRequest = try await Self.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try Self.checkIdentity(worker: body.worker)
            let held = try await c.heartbeat(unit: unit, worker: body.worker)
            guard held else { throw StoreError.notLeaseHolder(unit: unit, worker: body.worker) }
            return .noContent
        }

        router.post("/v1/units/:unit/complete") { request, context -> CompletionResponse in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: CompletionRequest = try await Self.json(request, limit: limit)
            try Self.checkIdentity(worker: body.worker)
            return CompletionResponse(outcome: try await c.complete(unit: unit, body))
        }

        router.post("/v1/units/:unit/fail") { request, context -> HTTPResponse.Status in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: UnitRequest = try await Self.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try Self.checkIdentity(worker: body.worker)
            let state = try await c.fail(unit: unit, worker: body.worker, error: body.error ?? "unspecified")
            guard state != nil else { throw StoreError.notLeaseHolder(unit: unit, worker: body.worker) }
            return .noContent
        }

        router.post("/v1/units/:unit/release") { request, context -> HTTPResponse.Status in
            let unit = try context.parameters.require("unit", as: Int64.self)
            let body: UnitRequest = try await Self.json(request, limit: min(limit, RequestSizes.smallBodyBytes))
            try Self.checkIdentity(worker: body.worker)
            let released = try await c.release(unit: unit, worker: body.worker)
            guard released else { throw StoreError.notLeaseHolder(unit: unit, worker: body.worker) }
            return .noContent
        }

        router.post("/v1/tasks/:task/bank") { request, context -> Response in
            let task = try context.parameters.require("task", as: Int64.self)
            let body = try await Self.limitedBody(request, limit: limit, what: "a bank sync")
            // One straight path: the header gives the dimension; the task's bank actor checks
            // the rest against itself, merges, persists and answers, or refuses with nothing stored.
            // Both errors answer as themselves (`RequestErrors+HTTP.swift`): 400 naming the
            // field, 409, or the store's status.
            // The reply's entries are copied as the bank encoded them on acceptance (`TaskBank`).
            let (dimension, sync) = try BankWire.decodeRequest(body)
            let reply = try await c.syncBankBody(task: task, sync, dimension: dimension)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: reply))
        }
    }

    // MARK: Helpers

    static func body(_ request: Request, limit: Int) async throws -> Data {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        return Data(buffer.readableBytesView)
    }

    /// A job spec's body: refused with 413 naming the limit past `JobSpecLoader.maxSpecBytes`,
    /// so no spec costs the coordinator more than a small multiple of that to parse.
    static func specBody(_ request: Request, limit: Int) async throws -> Data {
        try await limitedBody(request, limit: limit, what: "a job spec", why: "; specs name their data files, they do not hold them")
    }

    /// The body, refused with 413 naming `what` and the limit once it passes `limit`: by its
    /// declared length before anything is read, else as soon as the limit is reached.
    static func limitedBody(_ request: Request, limit: Int, what: String, why: String = "") async throws -> Data {
        let tooLarge = HTTPError(.contentTooLarge, message: "\(what) may be at most \(limit) bytes\(why)")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        do {
            return try await body(request, limit: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        }
    }

    static func json<T: Decodable>(_ request: Request, limit: Int) async throws -> T {
        let data = try await limitedBody(request, limit: limit, what: "a \(T.self) body")
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw HTTPError(.badRequest, message: "malformed \(T.self) body: \(Self.describe(error))")
        }
    }

    /// Worker ids and host names are stored and printed: one outside `WorkerIdentity`'s
    /// length and character set (an empty one included) is refused with 400, naming the field.
    static func checkIdentity(worker: String, host: String? = nil) throws {
        if let problem = WorkerIdentity.problem(worker, field: "worker") { throw HTTPError(.badRequest, message: problem) }
        if let host, let problem = WorkerIdentity.problem(host, field: "host") { throw HTTPError(.badRequest, message: problem) }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): "missing field '\(key.stringValue)'"
        case let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx):
            "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case let DecodingError.dataCorrupted(ctx): ctx.debugDescription
        default: "\(error)"
        }
    }
}

struct JobListing: Codable, Sendable, ResponseEncodable {
    var id: Int64
    var name: String
    var createdAt: Double
}

extension TaskResults: ResponseEncodable {}
extension SubmitResponse: ResponseEncodable {}
extension CancelResponse: ResponseEncodable {}
extension JobStatus: ResponseEncodable {}
extension WorkPlan: ResponseEncodable {}
extension LeaseResponse: ResponseEncodable {}
extension CompletionResponse: ResponseEncodable {}
