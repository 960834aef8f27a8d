import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobStore
import Logging
import ServiceLifecycle
import Synchronization
import Tensor
import Testing
@testable import Worker

/// The worker's loop without HTTP (issue 26 item 4): `Worker` over an in-process
/// `CoordinatorAPI`, `UnitScorer` over a recording `BankSync`, and how a unit's errors are
/// sorted (`UnitFailure`).
@Suite("Worker loop without HTTP", .serialized)
struct WorkerLoopTests {
    static let shape = SyntheticBenchmark.Shape(classes: 20, negatives: 120, dimension: 32, idSamples: 600, oodSamples: 400)

    /// A coordinator with a submitted features job (2 tasks, units of 2 batches of 64).
    func submitted(syncEvery: Int = 1, unitBatches: Int = 2, maxAttempts: Int = 3,
                   clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) async throws -> (Coordinator, FeaturesJob, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("worker-loop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path,
                                          configuration: .init(maxAttempts: maxAttempts), logger: logger, clock: clock)
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered, .uncovered], batchSize: 64, unitBatches: unitBatches,
                                  proxy: .task, syncEvery: syncEvery)
        _ = try await coordinator.submit(try job.spec())
        return (coordinator, job, dir)
    }

    static func quietWorker(_ api: any CoordinatorAPI, id: String = "w0", simulatedBatchSeconds: Double = 0) -> Worker {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return Worker(api: api, options: WorkerOptions(id: id, host: "test", idlePoll: 0.01, simulatedBatchSeconds: simulatedBatchSeconds), logger: logger)
    }

    @Test("one worker over the in-process API scores every sample once and reproduces the sequential scorer")
    func inProcessRunMatchesSequential() async throws {
        let (coordinator, job, dir) = try await submitted()
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = InProcessAPI(coordinator: coordinator)
        let worker = Self.quietWorker(api)
        try await worker.run()
        let report = await worker.report
        #expect(report.samples == 2000 && report.units == 16)
        let spec = try job.spec()
        for task in try await coordinator.tasks(job: 1) {
            let stream = try await coordinator.stream(task: task.id)
            let features = job.features(sets: stream.sets, items: stream.items, kinds: [.covered, .uncovered]).rowNormalized()
            var scorer = try AdaNegScorer(text: job.data.text.rowNormalized(), numID: job.data.shape.classes,
                                          parameters: spec.scoring, permutation: .seed(spec.seed))
            let expected = try scorer.scoreStream(features)
            let stored = try await coordinator.results(task: task.id)
            try #require(stored.count == expected.count)
            for (r, e) in zip(stored, expected) {
                #expect(r.pred == e.pred && abs((r.conf ?? .nan) - e.conf) <= 1e-5)
            }
        }
        #expect(api.log.count("complete") == 16 && api.log.count("fail") == 0 && api.log.count("release") == 0)
    }

    @Test("a unit whose lease names a set the plan lacks fails (an attempt counted); the worker goes on with the rest")
    func badUnitFailsOthersComplete() async throws {
        let (coordinator, _, dir) = try await submitted(maxAttempts: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = InProcessAPI(coordinator: coordinator, corruptUnit: 3)
        try await Self.quietWorker(api).run()
        let status = try await coordinator.status(job: "test-job")
        #expect(status.units.failed == 1 && status.units.done == status.units.total - 1)
        let failed = try #require(status.failed.first)
        #expect(failed.unit == 3 && failed.error.contains("set 99 is not in the plan"), "\(failed.error)")
        #expect(api.log.count("fail") == 1)
    }

    @Test("a completion refused because the lease was lost ends only that unit; the worker goes on, and scores it again once the lease expired")
    func lostLeaseOnCompletion() async throws {
        let now = Mutex(1000.0)
        let (coordinator, _, dir) = try await submitted(clock: { now.withLock { $0 } })
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = InProcessAPI(coordinator: coordinator, refuseFirstCompletion: true)
        let worker = Self.quietWorker(api)
        let running = Task { try await worker.run() }
        // The refused unit stays leased until its lease expires: then it is leased again.
        try await api.log.waitFor("complete", count: 16)
        now.withLock { $0 += 3600 }
        try await running.value
        let status = try await coordinator.status(job: "test-job")
        #expect(status.units.done == status.units.total && status.units.failed == 0)
        let units = try await coordinator.units(task: 1) + coordinator.units(task: 2)
        #expect(units.count { $0.attempts == 2 } == 1, "the refused unit was leased twice")
        #expect(await worker.report.units == status.units.total)
        #expect(api.log.count("complete") == 17 && api.log.count("fail") == 0 && api.log.count("release") == 0)
    }

    @Test("a worker leases and scores its next unit while the completion before it is in flight; every unit is still completed once")
    func completionBesideNextUnit() async throws {
        let (coordinator, _, dir) = try await submitted()
        defer { try? FileManager.default.removeItem(at: dir) }
        var api = InProcessAPI(coordinator: coordinator)
        let hold = InProcessAPI.Hold()
        api.holdFirstCompletion = hold
        let worker = Self.quietWorker(api)
        try await worker.run()
        #expect(!hold.timedOut, "the next lease came while the first completion was unanswered")
        let status = try await coordinator.status(job: "test-job")
        #expect(status.units.done == status.units.total && status.units.failed == 0)
        #expect(await worker.report.units == status.units.total && api.log.count("complete") == status.units.total)
    }

    @Test("graceful shutdown of a service group stops the worker mid-unit: the unit is released, not failed")
    func gracefulShutdownReleases() async throws {
        let (coordinator, _, dir) = try await submitted()
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = InProcessAPI(coordinator: coordinator)
        // A batch "takes" an hour: the worker is mid-unit whenever the shutdown comes.
        let worker = Self.quietWorker(api, simulatedBatchSeconds: 3600)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(configuration: .init(services: [.init(service: worker)], logger: logger))
        let running = Task { try await group.run() }
        try await api.log.waitFor("sync")
        await group.triggerGracefulShutdown()
        try await running.value
        let status = try await coordinator.status(job: "test-job")
        #expect(status.units.leased == 0 && status.units.failed == 0 && status.units.done == 0)
        #expect(api.log.count("release") == 1 && api.log.count("fail") == 0)
        let unit = try #require(try await coordinator.units(task: 1).first { $0.id == 1 })
        #expect(unit.state == .pending)
    }

    // MARK: UnitScorer

    /// A leased unit, its plan and inputs, and a fresh replica, straight from a coordinator.
    func leasedUnit(syncEvery: Int, unitBatches: Int) async throws -> (UnitScorer, TaskReplica, URL) {
        let (coordinator, _, dir) = try await submitted(syncEvery: syncEvery, unitBatches: unitBatches)
        let grant = try #require(try await coordinator.lease(worker: "w0", host: "test").grant)
        let plan = try await coordinator.plan(job: grant.job)
        var features = Matrix(rows: grant.count, cols: plan.dimension)
        let rows = try UnitRowsWire.decode(try await coordinator.unitRows(unit: grant.unit, worker: "w0", attempt: grant.attempt).encoded())
        for i in 0..<grant.count {
            features.setRow(i, try FeatureFileRows.normalized(Array(try #require(rows.row(i))), path: "features", item: grant.items[i]))
        }
        let inputs = Worker.UnitInputs(features: features, errors: [String?](repeating: nil, count: grant.count), upload: nil)
        let scorer = try AdaNegScorer(text: plan.loadTextFeatures(), numID: plan.numID, parameters: plan.scoring,
                                      permutation: plan.loadPermutation(), recordsDelta: true)
        return (UnitScorer(grant: grant, plan: plan, inputs: inputs, bank: RecordingBank()), TaskReplica(scorer: scorer, version: 0), dir)
    }

    @Test("the batch loop syncs every sync_every batches and after the last, pushing each batch's positions; every sample gets a result")
    func syncCadence() async throws {
        var (unit, replica, dir) = try await leasedUnit(syncEvery: 2, unitBatches: 5)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bank = RecordingBank()
        unit = UnitScorer(grant: unit.grant, plan: unit.plan, inputs: unit.inputs, bank: bank)
        var clock = WorkClock()
        guard case let .scored(results) = try await unit.score(&replica, clock: &clock) else {
            Issue.record("expected scores")
            return
        }
        #expect(results.count == unit.grant.count)
        // 5 batches of 64, sync_every 2: after batches 2, 4 and 5 (the last).
        let first = unit.grant.firstSample
        #expect(bank.requests.map(\.position) == [first + 128, first + 256, first + 320])
        #expect(bank.requests.map(\.since) == [0, 1, 2], "each sync starts from the version the previous reply gave")
        #expect(replica.version == 3)
    }

    @Test("a lost lease or a cancelled task ends the batch loop before the next batch, with nothing pushed")
    func interruptions() async throws {
        var (unit, replica, dir) = try await leasedUnit(syncEvery: 1, unitBatches: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bank = RecordingBank()
        unit = UnitScorer(grant: unit.grant, plan: unit.plan, inputs: unit.inputs, bank: bank, leaseLost: { true })
        var clock = WorkClock()
        guard case .leaseLost = try await unit.score(&replica, clock: &clock) else {
            Issue.record("expected leaseLost")
            return
        }
        unit.leaseLost = { false }
        let stopped = Task { [unit, replica] in
            var replica = replica
            var clock = WorkClock()
            withUnsafeCurrentTask { $0?.cancel() }
            return try await unit.score(&replica, clock: &clock)
        }
        guard case .stopped = try await stopped.value else {
            Issue.record("expected stopped")
            return
        }
        #expect(bank.requests.isEmpty)
    }

    @Test("errors sort into what the worker does next")
    func failureKinds() {
        #expect(UnitFailure(InProcessAPI.Refusal(message: "lease", leaseLost: true)) == .leaseLost)
        #expect(UnitFailure(InProcessAPI.Refusal(message: "down", leaseLost: false)) == .coordinator)
        #expect(UnitFailure(CancellationError()) == .stopped)
        #expect(UnitFailure(WorkerError.device("CUDA error")) == .machine)
        #expect(UnitFailure(WorkerError.storage("disk full")) == .machine)
        #expect(UnitFailure(WorkerError.plan("bad set")) == .unit)
        #expect(UnitFailure(WorkerError.input("unreadable")) == .unit)
    }
}

/// Records what a worker asked of the coordinator, by call name.
final class CallLog: Sendable {
    private let calls = Mutex<[String]>([])

    func record(_ name: String) { calls.withLock { $0.append(name) } }
    func count(_ name: String) -> Int { calls.withLock { $0.count { $0 == name } } }

    /// Returns once `name` was called `count` times (polls the log; the test's own time limit bounds it).
    func waitFor(_ name: String, count wanted: Int = 1) async throws {
        while count(name) < wanted { try await Task.sleep(nanoseconds: 5_000_000) }
    }
}

/// The coordinator's API without HTTP: each call goes straight to the `Coordinator` actor, and
/// its refusals become `Refusal`s as the HTTP client's statuses would (409: lease lost).
/// `corruptUnit` hands that unit out naming a set the plan lacks; `refuseFirstCompletion`
/// answers the first completion as a lost lease.
struct InProcessAPI: CoordinatorAPI {
    struct Refusal: CoordinatorAPIError, CustomStringConvertible {
        var message: String
        var leaseLost: Bool
        var description: String { message }
    }

    let coordinator: Coordinator
    var corruptUnit: Int64?
    var refuseFirstCompletion = false
    var holdFirstCompletion: Hold?
    let log = CallLog()

    /// Holds a call until a condition holds; gives up after `limit` seconds (recorded), so a
    /// worker that never meets the condition fails the test instead of hanging it.
    final class Hold: Sendable {
        let limit: Double
        private let gaveUp = Mutex(false)
        var timedOut: Bool { gaveUp.withLock { $0 } }
        init(limit: Double = 60) { self.limit = limit }

        func wait(until condition: () -> Bool) async {
            let start = Date()
            while !condition() {
                if Date().timeIntervalSince(start) > limit {
                    gaveUp.withLock { $0 = true }
                    return
                }
                try? await Task.sleep(nanoseconds: 2_000_000)
            }
        }
    }

    private func call<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
        log.record(name)
        do {
            return try await body()
        } catch let error as StoreError {
            if case .notLeaseHolder = error { throw Refusal(message: error.description, leaseLost: true) }
            throw Refusal(message: error.description, leaseLost: false)
        }
    }

    func lease(worker: String, host: String) async throws -> LeaseResponse {
        var response = try await call("lease") { try await coordinator.lease(worker: worker, host: host) }
        if let corruptUnit, response.grant?.unit == corruptUnit { response.grant?.sets[0] = 99 }
        return response
    }

    /// Through the wire format, as the HTTP client receives it.
    func rows(unit: Int64, worker: String, attempt: Int) async throws -> UnitRows {
        try await call("rows") { try UnitRowsWire.decode(try await coordinator.unitRows(unit: unit, worker: worker, attempt: attempt).encoded()) }
    }

    func heartbeat(unit: Int64, worker: String) async throws -> Bool {
        try await call("heartbeat") { try await coordinator.heartbeat(unit: unit, worker: worker) }
    }

    func complete(unit: Int64, _ request: CompletionRequest) async throws -> CompletionOutcome {
        if let holdFirstCompletion, log.count("complete") == 0 {
            // Answered only once the worker asked for its next unit (or, for a worker that
            // waits for this answer first, never: the probe records that it gave up).
            await holdFirstCompletion.wait { log.count("lease") >= 2 }
        }
        if refuseFirstCompletion && log.count("complete") == 0 {
            log.record("complete")
            throw Refusal(message: "worker does not hold the lease on unit \(unit)", leaseLost: true)
        }
        return try await call("complete") { try await coordinator.complete(unit: unit, request) }
    }

    func fail(unit: Int64, worker: String, error: String) async throws {
        _ = try await call("fail") { try await coordinator.fail(unit: unit, worker: worker, error: error) }
    }

    func release(unit: Int64, worker: String) async throws {
        _ = try await call("release") { try await coordinator.release(unit: unit, worker: worker) }
    }

    func plan(job: Int64) async throws -> WorkPlan {
        try await call("plan") { try await coordinator.plan(job: job) }
    }

    func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
        log.record("sync")
        return try await coordinator.syncBank(task: task, request, dimension: dimension)
    }

    func retrying(within seconds: Double) -> InProcessAPI { self }
}

/// A bank that records each request and answers with the next version and nothing to merge.
final class RecordingBank: BankSync {
    private let log = Mutex<[BankSyncRequest]>([])
    var requests: [BankSyncRequest] { log.withLock { $0 } }

    func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
        let version = log.withLock { requests -> Int64 in
            requests.append(request)
            return Int64(requests.count)
        }
        return BankSyncReply(version: version)
    }
}
