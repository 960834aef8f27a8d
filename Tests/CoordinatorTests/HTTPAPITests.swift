import AdaNeg
@testable import Coordinator
import Foundation
import JobClient
import JobPlan
import JobProtocol
import Testing
import Worker
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP surface: authentication, limits, malformed input, and lease ownership.
@Suite("Coordinator HTTP API", .serialized)
struct HTTPAPITests {
    func raw(_ cluster: TestCluster, _ method: String, _ path: String, body: Data? = nil, token: String? = nil,
             contentType: String = "application/json") async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(cluster.port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("without the bearer token every route but liveness answers 401; with it, 200")
    func authentication() async throws {
        try await TestCluster.with(token: "s3cret") { cluster in
            #expect(try await raw(cluster, "GET", "/v1/jobs").0 == 401)
            #expect(try await raw(cluster, "GET", "/v1/jobs", token: "wrong").0 == 401)
            #expect(try await raw(cluster, "POST", "/v1/leases", body: Data("{}".utf8)).0 == 401)
            #expect(try await raw(cluster, "POST", "/v1/health").0 == 401)
            #expect(try await raw(cluster, "GET", "/metrics").0 == 401)
            let health = try await raw(cluster, "GET", "/v1/health")
            #expect(health.0 == 200 && health.1 == #"{"status":"ok"}"#)
            #expect(try await raw(cluster, "GET", "/v1/jobs", token: "s3cret").0 == 200)
            let lease = try await cluster.client(token: "s3cret").lease(worker: "w", host: "h")
            #expect(lease.grant == nil && lease.finished)
        }
    }

    @Test("refuses to listen beyond loopback without a token")
    func loopbackOnly() async throws {
        let coordinator = try Coordinator(databasePath: ":memory:")
        #expect(throws: ServerSetupError.self) {
            _ = try buildCoordinatorApplication(coordinator: coordinator, options: ServerOptions(host: "0.0.0.0", port: 0))
        }
    }

    @Test("oversized bodies get 413, malformed ones 400 with a message")
    func limitsAndMalformed() async throws {
        try await TestCluster.with(maxBodyBytes: 4096) { cluster in
            let (big, _) = try await raw(cluster, "POST", "/v1/leases", body: Data(repeating: 0x20, count: 10_000))
            #expect(big == 413)
            let (bad, message) = try await raw(cluster, "POST", "/v1/leases", body: Data("{\"worker\": 3}".utf8))
            #expect(bad == 400 && message.contains("worker"))
            let (notJSON, _) = try await raw(cluster, "POST", "/v1/units/1/complete", body: Data("not json".utf8))
            #expect(notJSON == 400)
            let (badDelta, deltaMessage) = try await raw(cluster, "POST", "/v1/tasks/1/bank", body: Data("garbage".utf8), contentType: "application/octet-stream")
            #expect(badDelta == 404 || badDelta == 400, "\(deltaMessage)")
            let (badSpec, specMessage) = try await raw(cluster, "POST", "/v1/jobs", body: Data("name: x\nbogus_key: 1\n".utf8), contentType: "application/yaml")
            #expect(badSpec == 400 && specMessage.contains("bogus_key"))
            #expect(try await cluster.coordinator.jobs().isEmpty, "a refused spec wrote a job")
            #expect(try await raw(cluster, "GET", "/v1/jobs/nope").0 == 404)
            #expect(try await raw(cluster, "POST", "/v1/units/abc/heartbeat", body: Data("{\"worker\":\"w\"}".utf8)).0 == 400)
        }
    }

    @Test("a completion for a unit the worker does not hold is refused and changes nothing")
    func completionOwnership() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24),
                                      kinds: [.covered], batchSize: 16, unitBatches: 1)
            _ = try await cluster.coordinator.submit(try job.spec())
            let client = cluster.client()
            guard let grant = try await client.lease(worker: "owner", host: "h").grant else { Issue.record("no unit leased"); return }
            let n = grant.count
            // Scores inside their ranges (the coordinator refuses others since issue 13).
            let results = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0.9, count: n), confVanilla: Array(repeating: 0.9, count: n),
                                      mcm: Array(repeating: 0.9, count: n), adaptive: Array(repeating: 0.9, count: n), errors: Array(repeating: nil, count: n))
            await #expect(throws: ClientError.self) {
                _ = try await client.complete(unit: grant.unit, CompletionRequest(worker: "intruder", attempt: grant.attempt, results: results, computeSeconds: 0, waitSeconds: 0))
            }
            await #expect(throws: ClientError.self) {
                _ = try await client.complete(unit: grant.unit, CompletionRequest(worker: "owner", attempt: grant.attempt + 1, results: results, computeSeconds: 0, waitSeconds: 0))
            }
            #expect(try await cluster.coordinator.results(task: grant.task).isEmpty)
            #expect(try await client.heartbeat(unit: grant.unit, worker: "intruder") == false)
            #expect(try await client.complete(unit: grant.unit, CompletionRequest(worker: "owner", attempt: grant.attempt, results: results, computeSeconds: 0, waitSeconds: 0)) == .accepted)
            #expect(try await client.complete(unit: grant.unit, CompletionRequest(worker: "owner", attempt: grant.attempt, results: results, computeSeconds: 0, waitSeconds: 0)) == .duplicate)
            #expect(try await cluster.coordinator.results(task: grant.task).count == n)
        }
    }

    @Test("openapi.yaml documents exactly the routes the server registers")
    func openAPIInSync() async throws {
        let documented = Set(try OpenAPIDocument.operations().keys)
        let served = Set(CoordinatorRoutes.registeredRoutes(coordinator: try Coordinator(databasePath: ":memory:")))
        #expect(documented == served, "documented only: \(documented.subtracting(served)); served only: \(served.subtracting(documented))")
        #expect(served.count >= 12)
    }
}
