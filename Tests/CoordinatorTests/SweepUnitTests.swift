import AdaNeg
import Coordinator
import Foundation
import JobClient
import JobPlan
import JobProtocol
import NPY
@testable import JobStore
import Synchronization
import Testing
@testable import Worker

/// Fleet sweeps' units on the coordinator: leases that expire are leased again, a late holder
/// is refused, nothing is counted twice, and the same grid submitted again resumes.
@Suite("Sweep units")
struct SweepUnitTests {
    /// A finished features job in `cluster` (two OOD sets, so two tasks).
    static func finishedJob(_ cluster: TestCluster) async throws -> FeaturesJob {
        let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 8, negatives: 40, dimension: 16, idSamples: 300, oodSamples: 200),
                                  batchSize: 50, memleng: 4)
        _ = try await cluster.coordinator.submit(try job.spec())
        _ = try await cluster.runWorkers(1)
        return job
    }

    /// The sets a worker would post for `grant`, scored here from the features it is sent.
    static func sets(_ grant: SweepGrant, _ features: SweepFeatures, plan: WorkPlan) throws -> [SweepCompletion.PointSet] {
        let scores = try SweepScorer.score(features: .init(rows: features.rows, cols: features.dimension, storage: features.features),
                                           positions: features.positions, text: try plan.loadTextFeatures(), numID: plan.numID,
                                           permutation: try plan.loadPermutation(), points: grant.points, threads: 1)
        return try zip(grant.points, scores).map { p, s in
            .init(point: p.pointKey, result: try SweepStoredJSON.encode(SetReport.sweepSet(task: grant.task, labels: features.labels,
                                                                                           errored: features.errored, scores: s)))
        }
    }

    @Test("an expired sweep lease goes to another worker; the late holder is refused; a duplicate stores nothing; re-submitting resumes")
    func expiryAndResume() async throws {
        let clock = ManualClock()
        try await TestCluster.with(leaseSeconds: 30, clock: { clock.read() }) { cluster in
            _ = try await Self.finishedJob(cluster)
            let client = cluster.client()
            let request = SweepRequest(job: "test-job", sets: ["memleng=2,6"])
            let submitted = try await client.submitSweep(request)
            #expect(submitted.created && submitted.points == 2)
            #expect(submitted.units == SweepUnitCounts(pending: 2), "one unit per task: both points together")

            let first = try #require(try await client.leaseSweep(worker: "a", host: "h").grant)
            #expect(first.attempt == 1 && first.points.count == 2)
            clock.advance(31)
            let second = try #require(try await client.leaseSweep(worker: "b", host: "h").grant)
            #expect(second.unit == first.unit && second.attempt == 2, "the expired unit is leased again first")

            // The late holder can neither read the features nor complete.
            await #expect(throws: ClientError.self) { _ = try await client.sweepFeatures(unit: first.unit, worker: "a", attempt: 1) }
            let plan = try await client.plan(job: second.job)
            let features = try await client.sweepFeatures(unit: second.unit, worker: "b", attempt: 2)
            let sets = try Self.sets(second, features, plan: plan)
            do {
                _ = try await client.completeSweep(unit: first.unit, SweepCompletion(worker: "a", attempt: 1, sets: sets))
                Issue.record("a late holder's completion was accepted")
            } catch let error as ClientError {
                #expect(error.status == 409, "\(error)")
            }
            // Sets that are not exactly the unit's points are refused, naming the field.
            do {
                _ = try await client.completeSweep(unit: second.unit, SweepCompletion(worker: "b", attempt: 2, sets: Array(sets.prefix(1))))
                Issue.record("a completion missing a point was accepted")
            } catch let error as ClientError {
                #expect(error.status == 400 && error.description.contains("sets"), "\(error)")
            }
            #expect(try await client.completeSweep(unit: second.unit, SweepCompletion(worker: "b", attempt: 2, sets: sets)))
            #expect(try await client.completeSweep(unit: second.unit, SweepCompletion(worker: "b", attempt: 2, sets: sets)) == false,
                    "a duplicate is answered, not stored again")
            let status = try await client.sweepStatus(id: submitted.id)
            #expect(status.units == SweepUnitCounts(pending: 1, done: 1) && status.pointTasksDone == 2 && status.pointTasks == 4)

            // The same grid again: the same sweep, nothing new stored.
            let again = try await client.submitSweep(request)
            #expect(!again.created && again.id == submitted.id && again.units.total == 2)

            // A worker takes the rest; each (point, task) is stored once.
            _ = try await cluster.runWorkers(1)
            let done = try await client.sweepStatus(id: submitted.id)
            #expect(done.units == SweepUnitCounts(done: 2) && done.pointTasksDone == 4)
            let results = try await client.sweepResults(id: submitted.id)
            #expect(results.points.count == 2 && results.points.allSatisfy { $0.sets.count == 2 && $0.result == nil })
            let reader = try StoreReader(readingAt: await cluster.coordinator.databasePath)
            #expect(try reader.db.scalar("SELECT count(*) FROM sweep_sets") == 4)
            // The worker's sets are the same bits as the ones scored here.
            let stored = try #require(results.points.first { $0.params.pointKey == second.points[0].pointKey })
            #expect(stored.sets.first { $0.task == second.task.id }?.result == sets[0].result)
        }
    }

    @Test("a job still running is refused with 409 and why (its stored features are not final); nothing is stored")
    func runningJob() async throws {
        try await TestCluster.with { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 8, negatives: 40, dimension: 16, idSamples: 300, oodSamples: 200))
            _ = try await cluster.coordinator.submit(try job.spec())
            do {
                _ = try await cluster.client().submitSweep(SweepRequest(job: "test-job", sets: ["memleng=2,6"]))
                Issue.record("a sweep of a running job was accepted")
            } catch let error as ClientError {
                #expect(error.status == 409 && error.description.contains("still running"), "\(error)")
            }
            let reader = try StoreReader(readingAt: await cluster.coordinator.databasePath)
            #expect(try reader.db.scalar("SELECT count(*) FROM sweeps") == 0)
        }
    }

    @Test("a worker keeps a task's features for its next unit of the same task: one fetch per task, not per unit")
    func featuresKeptPerTask() async throws {
        try await TestCluster.with { cluster in
            _ = try await Self.finishedJob(cluster)
            let client = cluster.client()
            // 16 points sharing a batch size: two units of 8 per task, leased task by task.
            let sweep = try await client.submitSweep(SweepRequest(job: "test-job", sets: ["memleng=2,3,4,5,6,7,8,9", "gap=0.3,0.5"]))
            #expect(sweep.units.total == 4)
            let counting = CountingClient(client: client)
            let worker = Worker(api: counting, options: WorkerOptions(id: "solo", host: "test", idlePoll: 0.01))
            try await worker.run()
            let report = await worker.report
            #expect(report.sweepUnits == 4 && report.sweepPointTasks == 32 && report.units == 0, "\(report)")
            #expect(try await client.sweepStatus(id: sweep.id).units == SweepUnitCounts(done: 4))
            #expect(counting.fetches.withLock { $0 } == 2, "features fetched once per task")
        }
    }

    @Test("a feature file changed since submission fails its task's sweep unit on the coordinator, naming the file, after the maximum attempts; the other task's unit is done; submitted again once fixed, it is tried again")
    func changedInputFails() async throws {
        try await TestCluster.with { cluster in
            let job = try await Self.finishedJob(cluster)
            let client = cluster.client()
            let sweep = try await client.submitSweep(SweepRequest(job: "test-job", sets: ["memleng=2,6"]))
            // Same shape, other values: the digest recorded at submission no longer matches.
            let path = "\(job.directory)/ood-covered.npy"
            let set = try #require(job.data.oodSets.first { $0.kind == .covered })
            try NPYFile.writeMatrix(set.features.storage.map { -$0 }, rows: set.features.rows, cols: set.features.cols, to: path)
            _ = try await cluster.runWorkers(1)
            let status = try await client.sweepStatus(id: sweep.id)
            #expect(status.units == SweepUnitCounts(done: 1, failed: 1), "\(status)")
            #expect(status.failures.count == 1 && status.failures[0].contains("ood-covered.npy"), "\(status.failures)")
            // The file put back and the grid submitted again: the failed unit is tried again.
            try NPYFile.writeMatrix(set.features.storage, rows: set.features.rows, cols: set.features.cols, to: path)
            let again = try await client.submitSweep(SweepRequest(job: "test-job", sets: ["memleng=2,6"]))
            #expect(!again.created && again.units == SweepUnitCounts(pending: 1, done: 1), "\(again)")
            _ = try await cluster.runWorkers(1)
            #expect(try await client.sweepStatus(id: sweep.id).units == SweepUnitCounts(done: 2))
        }
    }

    @Test("sweep features round-trip through their binary body; a truncated or foreign body is refused, never read past")
    func featuresWire() throws {
        let f = SweepFeatures(rows: 3, dimension: 2, positions: [0, 5, 1 << 40], labels: [2, -1, 0], errored: 4,
                              features: [1, -0.5, .leastNonzeroMagnitude, 3, -.greatestFiniteMagnitude, 0])
        let body = f.encoded()
        #expect(body.count == f.byteCount)
        #expect(try SweepFeatures.decode(body) == f)
        let empty = SweepFeatures(rows: 0, dimension: 4, positions: [], labels: [], errored: 7, features: [])
        #expect(try SweepFeatures.decode(empty.encoded()) == empty)
        for bad in [body.prefix(body.count - 1), body.prefix(19), Data("ADBK".utf8) + body.dropFirst(4), body + Data([0])] {
            #expect(throws: SweepFeatures.Problem.self) { _ = try SweepFeatures.decode(Data(bad)) }
        }
    }

    @Test("bad requests answer 400 naming the field, an unknown job 404, an unknown sweep 404; nothing is stored")
    func refusals() async throws {
        try await TestCluster.with { cluster in
            _ = try await Self.finishedJob(cluster)
            let client = cluster.client()
            func status(_ request: SweepRequest) async -> (Int?, String) {
                do {
                    _ = try await client.submitSweep(request)
                    return (200, "")
                } catch let error as ClientError {
                    return (error.status, error.description)
                } catch {
                    return (nil, "\(error)")
                }
            }
            var (code, text) = await status(SweepRequest(job: "test-job", sets: ["memleng=0"]))
            #expect(code == 400 && text.contains("--set 'memleng=0'"), "\(text)")
            (code, text) = await status(SweepRequest(job: "test-job", sets: []))
            #expect(code == 400 && text.contains("sets"), "\(text)")
            (code, text) = await status(SweepRequest(job: "test-job", sets: ["memleng=1:30:1", "gap=0.1:0.9:0.1"], maxPoints: 100))
            #expect(code == 400 && text.contains("--max-points 100"), "\(text)")
            (code, text) = await status(SweepRequest(job: "test-job", sets: ["groups=41"]))
            #expect(code == 400 && text.contains("groups 41"), "\(text)")
            (code, text) = await status(SweepRequest(job: "no-such-job", sets: ["memleng=2"]))
            #expect(code == 404 && text.contains("no-such-job"), "\(text)")
            await #expect(throws: ClientError.self) { _ = try await client.sweepStatus(id: String(repeating: "0", count: 32)) }
            let reader = try StoreReader(readingAt: await cluster.coordinator.databasePath)
            #expect(try reader.db.scalar("SELECT count(*) FROM sweeps") == 0)
            #expect(try reader.db.scalar("SELECT count(*) FROM sweep_units") == 0)
            // No sweep: a worker finds no unit.
            #expect(try await client.leaseSweep(worker: "a", host: "h").grant == nil)
        }
    }
}

/// The HTTP client, counting the sweep features it fetches.
struct CountingClient: CoordinatorAPI, SweepAPI {
    let client: CoordinatorClient
    let fetches = Arc()

    final class Arc: Sendable {
        let value = Mutex(0)
        func withLock<T: Sendable>(_ body: (inout Int) -> T) -> T { value.withLock { body(&$0) } }
    }

    func lease(worker: String, host: String) async throws -> LeaseResponse { try await client.lease(worker: worker, host: host) }
    func rows(unit: Int64, worker: String, attempt: Int) async throws -> UnitRows { try await client.rows(unit: unit, worker: worker, attempt: attempt) }
    func heartbeat(unit: Int64, worker: String) async throws -> Bool { try await client.heartbeat(unit: unit, worker: worker) }
    func complete(unit: Int64, _ request: CompletionRequest) async throws -> CompletionOutcome { try await client.complete(unit: unit, request) }
    func fail(unit: Int64, worker: String, error: String) async throws { try await client.fail(unit: unit, worker: worker, error: error) }
    func release(unit: Int64, worker: String) async throws { try await client.release(unit: unit, worker: worker) }
    func plan(job: Int64) async throws -> WorkPlan { try await client.plan(job: job) }
    func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
        try await client.syncBank(task: task, request, dimension: dimension)
    }
    func retrying(within seconds: Double) -> CountingClient { self }
    func leaseSweep(worker: String, host: String) async throws -> SweepLeaseResponse { try await client.leaseSweep(worker: worker, host: host) }
    func sweepFeatures(unit: Int64, worker: String, attempt: Int) async throws -> SweepFeatures {
        fetches.withLock { $0 += 1 }
        return try await client.sweepFeatures(unit: unit, worker: worker, attempt: attempt)
    }
    func heartbeatSweep(unit: Int64, worker: String, attempt: Int) async throws -> Bool {
        try await client.heartbeatSweep(unit: unit, worker: worker, attempt: attempt)
    }
    func completeSweep(unit: Int64, _ completion: SweepCompletion) async throws -> Bool { try await client.completeSweep(unit: unit, completion) }
    func failSweep(unit: Int64, worker: String, attempt: Int, error: String) async throws {
        try await client.failSweep(unit: unit, worker: worker, attempt: attempt, error: error)
    }
}
