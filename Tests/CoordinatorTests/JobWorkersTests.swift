import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import Testing

/// Issue 22: a job's status, progress and report name the workers of that job only, not every
/// worker of the database.
@Suite("The workers of a job", .serialized)
struct JobWorkersTests {
    static let shape = SyntheticBenchmark.Shape(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24)

    @Test("two jobs, one worker each: each job's status and progress list its own worker; one gone after a lease period")
    func ownWorkersOnly() async throws {
        let clock = SettableClock(1_000)
        try await TestCluster.with(leaseSeconds: 30, clock: { clock.now }) { cluster in
            // One unit per job (64 samples, batches of 64): wa holds all of job-a.
            let a = try FeaturesJob(in: cluster.directory, name: "job-a", shape: Self.shape, kinds: [.covered], batchSize: 64, unitBatches: 1)
            #expect(try await cluster.coordinator.submit(try a.spec()).units == 1)
            let client = cluster.client()
            let grantA = try #require(try await client.lease(worker: "wa", host: "h").grant)
            let b = try FeaturesJob(in: cluster.directory, name: "job-b", shape: Self.shape, kinds: [.covered], batchSize: 64, unitBatches: 1)
            _ = try await cluster.coordinator.submit(try b.spec())
            let grantB = try #require(try await client.lease(worker: "wb", host: "h").grant)
            #expect(grantB.job != grantA.job)
            let statusA = try await cluster.coordinator.status(job: "job-a")
            let statusB = try await cluster.coordinator.status(job: "job-b")
            #expect(statusA.workers.map(\.id) == ["wa"], "\(statusA.workers.map(\.id))")
            #expect(statusB.workers.map(\.id) == ["wb"], "\(statusB.workers.map(\.id))")
            #expect(try await cluster.coordinator.progress(job: "job-a").workers.map(\.id) == ["wa"])
            // A lease period without a word from wa: gone.
            clock.set(1_000 + 31)
            let later = try await cluster.coordinator.progress(job: "job-a")
            #expect(later.workers.first?.gone == true && later.leaseSeconds == 30)
            #expect(later.startedAt == 1_000 && later.elapsedSeconds == 31)
        }
    }
}
