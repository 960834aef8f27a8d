import AdaNeg
import Foundation
import JobPlan
import JobProtocol

/// One task's scorer with its bank replica and the bank version it has seen.
struct TaskReplica {
    var scorer: AdaNegScorer
    var version: Int64
}

/// The batch loop of one leased unit: each batch enters the replica's bank, the bank is synced
/// every `sync_every` batches and after the last one (`BankCatchUp.step` over `bank`: push,
/// then pull until within the coordinator's staleness bound), then the batch is scored. Plain
/// values and one protocol, so the loop is tested without HTTP (`UnitScorerTests`).
struct UnitScorer {
    /// How the loop ended.
    enum Outcome {
        /// Every sample has its result (a score, or its error), in stream order.
        case scored([SampleResult])
        /// The task was cancelled (the worker is stopping): the unit is to be released.
        case stopped
        /// The heartbeat learnt that the unit is another worker's now: its results win.
        case leaseLost
    }

    let grant: LeaseGrant
    let plan: WorkPlan
    let inputs: Worker.UnitInputs
    let bank: any BankSync
    /// Benchmarks: seconds to sleep per batch, as embedding would cost.
    var simulatedBatchSeconds = 0.0
    /// Whether the lease was lost (set by the heartbeat, read between batches).
    var leaseLost: @Sendable () -> Bool = { false }

    func score(_ replica: inout TaskReplica, clock: inout WorkClock) async throws -> Outcome {
        var results = [SampleResult]()
        results.reserveCapacity(grant.count)
        var batch = 0
        for start in stride(from: 0, to: grant.count, by: plan.scoring.batchSize) {
            if Task.isCancelled { return .stopped }
            if leaseLost() { return .leaseLost }
            let end = min(grant.count, start + plan.scoring.batchSize)
            batch += 1
            // Samples without a feature (unreadable images) are left out of the batch; the
            // others keep their own stream positions. The bank takes the batch first, then the
            // sync, then the adaptive pass: its entries reach the other workers early.
            let usable = (start..<end).filter { inputs.errors[$0] == nil }
            let pending = try replica.scorer.beginBatch(inputs.features.gatherRows(usable), positions: usable.map { grant.firstSample + $0 })
            clock.lap(waiting: false)
            if batch % plan.syncEvery == 0 || end >= grant.count {
                try await sync(&replica, pushedUpTo: end, scoringAt: start)
                clock.lap(waiting: true)
            }
            let scores = replica.scorer.finishBatch(pending)
            if simulatedBatchSeconds > 0 { try await Task.sleep(nanoseconds: UInt64(simulatedBatchSeconds * 1e9)) }
            results += Self.results(start..<end, scores: scores, errors: inputs.errors, firstSample: grant.firstSample)
            clock.lap(waiting: false)
        }
        return .scored(results)
    }

    /// Pushes the replica's new entries (every position of the unit below `pushedUpTo` is in
    /// them) and pulls until the batch at `scoringAt` may be scored.
    private func sync(_ replica: inout TaskReplica, pushedUpTo end: Int, scoringAt start: Int) async throws {
        let delta = replica.scorer.takeBankDelta()
        let step = try await BankCatchUp.step(bank, task: grant.task, since: replica.version, position: grant.firstSample + end, delta: delta,
                                              scoringAt: grant.firstSample + start, dimension: plan.dimension,
                                              maxWait: grant.leaseSeconds / 2) { replica.scorer.mergeBank($0) }
        replica.version = step.version
    }

    /// The batch's results in stream order: a sample's input error, or its score. A score that
    /// is not a number cannot be sent (JSON has no NaN) or ranked: that sample's error, never
    /// the unit's.
    static func results(_ batch: Range<Int>, scores: [SampleScore], errors: [String?], firstSample: Int) -> [SampleResult] {
        var scored = scores.makeIterator()
        return batch.compactMap { i -> SampleResult? in
            if let error = errors[i] { return .failed(error) }
            guard let s = scored.next() else { return nil }
            let finite = [s.conf, s.confVanilla, s.mcm, s.adaptive].allSatisfy(\.isFinite)
            return finite ? .scored(s) : .failed("sample \(firstSample + i): its scores are not finite (NaN or ±∞)")
        }
    }
}

/// Splits a unit's time into computing and waiting on the coordinator (the completion reports
/// both, and so does the worker's summary).
struct WorkClock {
    private(set) var compute = 0.0
    private(set) var wait = 0.0
    private var mark = ContinuousClock.now

    /// Adds the time since the last lap to `wait` or `compute`.
    mutating func lap(waiting: Bool) {
        let now = ContinuousClock.now
        let seconds = Double((now - mark).components.attoseconds) / 1e18 + Double((now - mark).components.seconds)
        if waiting { wait += seconds } else { compute += seconds }
        mark = now
    }
}
