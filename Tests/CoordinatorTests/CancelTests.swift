@testable import Coordinator
import Foundation
import JobClient
import JobProtocol
@testable import JobStore
import Testing

/// Issue 23: `adaneg cancel` and the name of the token that submitted a job.
@Suite("Cancel and submitters", .serialized)
struct CancelTests {
    static let secrets = ["admin": "a-secret", "alice": "alice-secret", "bob": "bob-secret", "node": "node-secret", "reader": "r-secret"]

    static func tokens() -> AccessTokens {
        AccessTokens([
            AccessToken(role: .admin, name: "admin", secret: secrets["admin"]!),
            AccessToken(role: .submit, name: "alice", secret: secrets["alice"]!),
            AccessToken(role: .submit, name: "bob", secret: secrets["bob"]!),
            AccessToken(role: .worker, name: "node", secret: secrets["node"]!),
            AccessToken(role: .read, name: "reader", secret: secrets["reader"]!),
        ])
    }

    @Test("the submitter is recorded and shown; only it or admin may cancel; units not done are dropped, results kept; a lease holder learns it at its next call")
    func cancelFlow() async throws {
        try await TestCluster.with(tokens: Self.tokens()) { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24),
                                      kinds: [.covered], batchSize: 16, unitBatches: 1)
            let alice = cluster.client(token: Self.secrets["alice"])
            let submitted = try await alice.submit(yaml: job.yaml, baseDirectory: job.directory)
            // Resubmitting under another token keeps the first name.
            _ = try await cluster.client(token: Self.secrets["bob"]).submit(yaml: job.yaml, baseDirectory: job.directory)
            let reader = cluster.client(token: Self.secrets["reader"])
            #expect(try await reader.progress(job: submitted.name).submittedBy == "alice")

            // A worker completes one unit and holds another.
            let node = cluster.client(token: Self.secrets["node"])
            let done = try #require(try await node.lease(worker: "w1", host: "h").grant)
            let n = done.count
            let results = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0.9, count: n), confVanilla: Array(repeating: 0.9, count: n),
                                      mcm: Array(repeating: 0.9, count: n), adaptive: Array(repeating: 0.9, count: n), errors: Array(repeating: nil, count: n))
            #expect(try await node.complete(unit: done.unit, CompletionRequest(worker: "w1", attempt: done.attempt, results: results, computeSeconds: 0, waitSeconds: 0)) == .accepted)
            let held = try #require(try await node.lease(worker: "w2", host: "h").grant)

            // Who may cancel.
            for (token, name) in [("bob", "bob"), ("node", "node"), ("reader", "reader")] {
                await #expect {
                    _ = try await cluster.client(token: Self.secrets[token]).cancel(job: submitted.name)
                } throws: { error in
                    guard let error = error as? ClientError, error.status == 403 else { return false }
                    return "\(error)".contains("'\(name)'")
                }
            }
            #expect(try await reader.progress(job: submitted.name).units.cancelled == 0)
            let reply = try await alice.cancel(job: submitted.name)
            #expect(reply.droppedUnits == submitted.units - 1 && reply.name == submitted.name)

            // The holder learns it at its next call, and nothing of its unit is stored.
            #expect(try await node.heartbeat(unit: held.unit, worker: "w2") == false)
            await #expect {
                _ = try await node.complete(unit: held.unit, CompletionRequest(worker: "w2", attempt: held.attempt,
                                                                                results: UnitResults(pred: Array(repeating: 0, count: held.count), conf: Array(repeating: 0.9, count: held.count),
                                                                                                     confVanilla: Array(repeating: 0.9, count: held.count), mcm: Array(repeating: 0.9, count: held.count),
                                                                                                     adaptive: Array(repeating: 0.9, count: held.count), errors: Array(repeating: nil, count: held.count)),
                                                                                computeSeconds: 0, waitSeconds: 0))
            } throws: { ($0 as? ClientError)?.status == 409 }
            #expect(try await node.lease(worker: "w3", host: "h").grant == nil, "a cancelled job's unit was leased")

            // Status: cancelled, the done unit's results kept.
            let progress = try await reader.progress(job: submitted.name)
            #expect(progress.state == .cancelled && progress.units.cancelled == submitted.units - 1 && progress.units.done == 1)
            #expect(progress.results == n && progress.cancelledAt != nil && progress.remainingSamples == 0)
            #expect(try await cluster.coordinator.results(task: done.task).count == n)
            // Admin may cancel any job; again drops nothing.
            #expect(try await cluster.client(token: Self.secrets["admin"]).cancel(job: submitted.name).droppedUnits == 0)
            // An unknown job: 404.
            await #expect { _ = try await alice.cancel(job: "nope") } throws: { ($0 as? ClientError)?.status == 404 }
        }
    }

    @Test("a version-1 database migrates to one that records submitters and cancels units")
    func migration() throws {
        let path = try MigrationTests.version1Database(sampleCount: 6, extraRows: """
            INSERT INTO units (id, task_id, first_sample, sample_count, state, lease_owner, lease_expires, attempts) VALUES (2, 1, 2, 2, 'leased', 'w', 9, 1);
            INSERT INTO units (id, task_id, first_sample, sample_count, state) VALUES (3, 1, 4, 2, 'pending');
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try StoreWriter(path: path)
        #expect(try store.ownership(job: 1) == JobOwnership(submittedBy: nil, cancelledAt: nil))
        #expect(try store.unit(id: 1)?.completedAt == 5 && store.unit(id: 2)?.leaseOwner == "w")
        try store.recordSubmitter(job: 1, name: "alice")
        try store.recordSubmitter(job: 1, name: "bob")
        #expect(try store.cancel(job: 1, now: 42) == 2)
        #expect(try store.ownership(job: 1) == JobOwnership(submittedBy: "alice", cancelledAt: 42))
        #expect(try store.unit(id: 1)?.state == .done && store.unit(id: 2)?.state == .cancelled && store.unit(id: 3)?.state == .cancelled)
        #expect(try store.results(task: 1).count == 2)
        #expect(try store.cancel(job: 1, now: 50) == 0 && store.ownership(job: 1).cancelledAt == 42)
        // A finished job is left as it is: nothing dropped, not marked cancelled.
        try store.db.execute("""
            INSERT INTO jobs (id, name, spec_yaml, plan_json, created_at) VALUES (2, 'finished', 'name: finished', '{}', 0);
            INSERT INTO tasks (id, job_id, ood_index, ood_name, sample_count) VALUES (2, 2, 1, 'x', 2);
            INSERT INTO units (id, task_id, first_sample, sample_count, state, completed_at) VALUES (4, 2, 0, 2, 'done', 5);
            """)
        #expect(try store.cancel(job: 2, now: 60) == 0 && store.ownership(job: 2).cancelledAt == nil && store.unit(id: 4)?.state == .done)
        #expect(try store.integrityCheck() == "ok")
    }
}
