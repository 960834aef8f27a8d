import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import JobStore
import Platform

/// The paths where the coordinator reads a job's input files after submission — a lease's
/// feature rows and a bank rebuilt after a restart — each checked against the digests recorded
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
                _ = try await failUnchecked(unit: leased.grant.unit, worker: worker, error: "\(error)")
                continue
            }
            for file in files { try? featureFiles.refresh(file.path) }
            var grant = leased.grant
            var features = leased.features
            // The rows are read from memory-mapped files (page faults are disk reads): on
            // `BlockingIO`'s threads, never the cooperative pool's, which health and leases share.
            let (plan, sets, items) = (leased.plan, grant.sets, grant.items)
            let (rows, rowErrors) = await BlockingIO.run { self.featureRows(plan: plan, sets: sets, items: items) }
            for i in rows.indices where rows[i] != nil { features[i] = rows[i] }
            var errors = leased.errors
            for i in rowErrors.indices where rowErrors[i] != nil { errors[i] = rowErrors[i] }
            if leased.plan.model != nil || rows.contains(where: { $0 != nil }) || rowErrors.contains(where: { $0 != nil }) {
                grant.stored = StoredFeatures(dimension: leased.plan.dimension, features: features, errors: errors)
            }
            return LeaseResponse(grant: grant, finished: false)
        }
    }

    /// Parks a leased unit as failed at once (a changed or lost input: every attempt would fail
    /// alike).
    private func failUnchecked(unit: Int64, worker: String, error: String) throws(StoreError) -> UnitState? {
        let state = try store.fail(unit: unit, worker: worker, error: error, maxAttempts: 0)
        logger.error("unit failed: an input is not as submitted", metadata: ["unit": "\(unit)", "error": "\(error.loggable)"])
        return state
    }

    /// Merges a worker's delta into the task's bank (`syncBankLoaded`); a bank not in memory
    /// (first use, or after a restart) is rebuilt from the task's files, which are checked
    /// first, here, outside the actor.
    public nonisolated func syncBank(task id: Int64, since: Int64, delta: BankDelta) async throws(StoreError) -> (delta: BankDelta, version: Int64) {
        try await checkBankInputs(task: id)
        return try await syncBankLoaded(task: id, since: since, delta: delta)
    }

    public nonisolated func bankDimension(task id: Int64) async throws(StoreError) -> Int {
        try await checkBankInputs(task: id)
        return try await bankDimensionLoaded(task: id)
    }

    /// Hashes the files a bank about to be rebuilt reads (when not hashed yet), here, outside
    /// the actor, so the rebuild's own check inside it (`loadBank`) is a `stat`. That check
    /// decides: a bank with stored entries is never rebuilt from a file that changed or cannot be
    /// read (`StoreError.inputChanged`, HTTP 409: the worker gives the unit up, and the next
    /// lease fails the task's units), while an empty bank reads no file at all.
    private nonisolated func checkBankInputs(task id: Int64) async throws(StoreError) {
        guard let files = try await filesOfUnloadedBank(task: id), !files.isEmpty else { return }
        try? await InputDigests.shared.verify(files)
    }

    /// The recorded feature files of a task whose bank is not in memory; nil when it is.
    private func filesOfUnloadedBank(task id: Int64) throws(StoreError) -> [(path: String, digest: ArtefactDigest)]? {
        guard !isBankLoaded(id), let task = try store.task(id: id) else { return nil }
        return try plan(job: task.job).recordedFeatureFiles(sets: [0, task.oodIndex])
    }
}

