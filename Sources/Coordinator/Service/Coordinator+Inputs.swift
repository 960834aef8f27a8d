import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import JobStore
import NIOCore
import Platform

/// The paths where the coordinator reads a job's input files after submission — a lease (whose
/// rows its holder then fetches, `Coordinator+Rows.swift`) and a bank rebuilt after a restart —
/// each checked against the digests recorded
/// at submission (`WorkPlan.inputs`). Hashing a file not yet hashed by this process runs on
/// `BlockingIO`'s threads, outside the actor; a file hashed before costs a `stat`.
extension Coordinator {
    /// What the store's side of a lease gives: a unit, or the answer when there is none.
    enum LeaseStep: Sendable {
        case unit(LeasedUnit)
        case empty(LeaseResponse)
    }

    /// Leases the next unit whose task's feature files are as submitted. A unit whose task
    /// reads a file that changed since submission, or that cannot be read any more, is failed at
    /// once (no retry can fix it), with a message naming the file, and the next unit is tried.
    public nonisolated func lease(worker: String, host: String) async throws(StoreError) -> LeaseResponse {
        while true {
            let leased: LeasedUnit
            switch try await leaseUnit(worker: worker, host: host) {
            case let .unit(unit): leased = unit
            case let .empty(response): return response
            }
            let files = leased.plan.recordedFeatureFiles(sets: leased.taskSets)
            do {
                try await InputDigests.shared.verify(files)
            } catch {
                // Changed, or gone from where it was hashed at submission: either way its rows
                // are not the job's any more.
                _ = try await failUnchecked(unit: leased.unit.id, worker: worker, error: "\(error)")
                continue
            }
            // Feature-file rows do not travel in the lease: the holder fetches them from
            // `GET /v1/units/{unit}/rows` (`unitRows`), as raw float32, or reads its own copy.
            // Image features the coordinator stores still come here, with their per-image errors.
            let grant = try await grant(leased)
            return LeaseResponse(grant: grant, finished: false)
        }
    }

    /// Parks a leased unit as failed at once (a changed or lost input: every attempt would fail
    /// alike).
    func failUnchecked(unit: Int64, worker: String, error: String) throws(StoreError) -> UnitState? {
        let state = try writeNow { store throws(StoreError) in try store.fail(unit: unit, worker: worker, error: error, maxAttempts: 0) }
        logger.error("unit failed: an input is not as submitted", metadata: ["unit": "\(unit)", "error": "\(error.loggable)"])
        return state
    }

    /// One bank sync: the task's bank actor checks the request (the dimension is the wire
    /// header's), merges it, persists it and answers, outside this actor. A bank not in memory
    /// (first use, or after a restart) is rebuilt first from the task's files, checked against
    /// their digests (`TaskBankActor.loaded`).
    public nonisolated func syncBank(task id: Int64, _ request: BankSyncRequest, dimension: Int) async throws(BankSyncRejection) -> BankSyncReply {
        let bank: TaskBankActor
        do { bank = try await bankActor(task: id) } catch { throw .store(error) }
        return try await bank.sync(request, dimension: dimension)
    }

    /// `syncBank` answered as the HTTP reply's body (`BankWire`, float16): the pulled entries'
    /// bytes are copied as the bank encoded them when it accepted them.
    public nonisolated func syncBankBody(task id: Int64, _ request: BankSyncRequest, dimension: Int) async throws(BankSyncRejection) -> ByteBuffer {
        let bank: TaskBankActor
        do { bank = try await bankActor(task: id) } catch { throw .store(error) }
        return try await bank.syncBody(request, dimension: dimension)
    }

    /// In-process callers (tests, benchmarks): a sync at the task's own dimension; a failure of
    /// the store is thrown as the `StoreError` it is.
    public nonisolated func syncBank(task id: Int64, _ request: BankSyncRequest) async throws -> BankSyncReply {
        let dimension = try await bankActor(task: id).dimension()
        do {
            return try await syncBank(task: id, request, dimension: dimension)
        } catch let BankSyncRejection.store(error) {
            throw error
        }
    }

    /// In-process callers: push `delta`, pull everything accepted after `since` (whatever the
    /// pull budget: repeated pulls), with the version reached.
    public nonisolated func syncBank(task id: Int64, since: Int64, delta: BankDelta) async throws -> (delta: BankDelta, version: Int64) {
        var reply = try await syncBank(task: id, BankSyncRequest(since: since, delta: delta))
        var entries = reply.delta.entries
        while reply.behind > 0 {
            reply = try await syncBank(task: id, BankSyncRequest(since: reply.version))
            entries += reply.delta.entries
        }
        return (BankDelta(entries: entries), reply.version)
    }

    public nonisolated func bankDimension(task id: Int64) async throws(StoreError) -> Int {
        try await bankActor(task: id).dimension()
    }

    /// The task's bank actor, made on first use for a task that exists.
    nonisolated func bankActor(task id: Int64) async throws(StoreError) -> TaskBankActor {
        if let bank = await banks.existing(task: id) { return bank }
        guard try await hasTask(id) else { throw .unknownTask(id) }
        let (path, policy, logger, clock) = (await databasePath, configuration.banks, logger, clock)
        let stall = configuration.leaseSeconds / 2
        let persistence = BankPersistence(self, path: path)
        return await banks.bank(task: id) {
            TaskBankActor(task: id, persistence: persistence, policy: policy, stallSeconds: stall,
                          logger: logger, clock: clock) { [weak self] () async throws(StoreError) in
                // Weak: the coordinator holds its banks; a bank holding it back would keep a
                // dropped coordinator (and its database lock) alive.
                guard let self else { throw .database(path: path, message: "the coordinator is gone") }
                return try await self.bankSeed(task: id)
            }
        }
    }
}

