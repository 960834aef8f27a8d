@testable import Coordinator
import Foundation
import Hummingbird
import JobProtocol
import JobSpec
import JobStore
import Testing

/// Each request error of the API's own types says once which HTTP status it answers
/// (`HTTPResponseError`), so no route maps one by hand.
@Suite("HTTP status of request errors")
struct HTTPErrorStatusTests {
    @Test("a refused bank sync: 400 for a field, 409 for a conflict, the store's status for a store failure")
    func bankSyncRejection() {
        #expect(BankSyncRejection.invalid("bank sync field 'since': -1").status == .badRequest)
        #expect(BankSyncRejection.conflict("since past the version").status == .conflict)
        #expect(BankSyncRejection.store(.unknownTask(4)).status == .notFound)
        #expect(BankSyncRejection.store(.database(path: "x", message: "disk full")).status == .internalServerError)
    }

    @Test("a body that is not a bank sync and a spec that does not validate answer 400")
    func badRequests() {
        #expect(BankWire.Problem.badMagic.status == .badRequest)
        #expect(BankWire.Problem.fieldOutOfRange(field: "since", value: -1, allowed: "0 or more").status == .badRequest)
        let spec = JobSpecError(file: "job.yaml", problems: [JobSpecProblem(path: "seed", message: "not an integer")])
        #expect(spec.status == .badRequest)
    }

    @Test("a heartbeat, fail or release from a worker that does not hold the lease is the store's notLeaseHolder: 409 naming worker and unit")
    func notLeaseHolder() async throws {
        let cluster = try await TestCluster()
        let job = try BankSyncTests.job(in: cluster.directory)
        let client = cluster.client()
        _ = try await client.submit(yaml: job.yaml, baseDirectory: cluster.directory.path)
        let grant = try #require(try await client.lease(worker: "holder", host: "h").grant)
        for route in ["heartbeat", "fail", "release"] {
            let (status, body) = try await HTTPAPITests().raw(cluster, "POST", "/v1/units/\(grant.unit)/\(route)", body: Data(#"{"worker": "stranger"}"#.utf8))
            #expect(status == 409, "\(route)")
            #expect(body.contains("worker 'stranger' does not hold the lease on unit \(grant.unit)"), "\(route): \(body)")
        }
        await cluster.shutdown()
    }
}
