import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import JobStore
import Logging

/// How the banks answer pulls and bound the staleness of what a worker scores against
/// (docs/capacity.md has the model behind the defaults).
public struct BankPolicy: Sendable {
    /// Most bytes one pull carries (float16 features; whole versions, at least one), so bytes
    /// per sync stay bounded whatever the number of workers.
    public var pullBytes: Int = 256 << 10
    /// A worker scores a batch only once its replica is at most this many accepted entries
    /// behind the coordinator's bank; it pulls again until it is (nil: no bound).
    public var maxBehind: Int? = 0
    /// How far past the frontier a worker may score a batch.
    public var window: Window = .automatic

    public enum Window: Sendable, Equatable {
        /// No bound (simulations of fleets larger than any window).
        case off
        /// At most `max(2 units, frontier)` positions past the frontier, and at most twice the
        /// units being worked on: early units wait for the ones before them (the bank starts
        /// empty), and a slow worker holds the others back instead of letting the stream run
        /// ahead of its entries.
        case automatic
        /// At most this many positions past the frontier.
        case positions(Int)
    }

    public init(pullBytes: Int = 256 << 10, maxBehind: Int? = 0, window: Window = .automatic) {
        self.pullBytes = pullBytes
        self.maxBehind = maxBehind
        self.window = window
    }
}

/// Why a bank sync was refused; nothing of the request was merged or stored.
public enum BankSyncRejection: Error, CustomStringConvertible, Sendable {
    /// The request is malformed or out of range (HTTP 400), naming the field.
    case invalid(String)
    /// The request does not fit the bank's state (HTTP 409): `since` past the bank's version.
    case conflict(String)
    case store(StoreError)

    public var description: String {
        switch self {
        case let .invalid(m), let .conflict(m): m
        case let .store(e): e.description
        }
    }
}

/// What a task's bank is rebuilt from: read once, by the `Coordinator`, when the bank is first
/// used in this process.
struct BankSeed: Sendable {
    var task: TaskRecord
    var plan: WorkPlan
    var units: [(first: Int, count: Int, finished: Bool)]
    var stored: [StoreReader.StoredBankEntry]
}

extension StoreReader.StoredBankEntry: @unchecked Sendable {}

/// One task's authoritative bank as its own actor: merges of different tasks run in parallel,
/// and no lease or completion waits behind a merge (the `Coordinator` actor is not involved).
/// One call checks a sync, merges it, persists it (through the bank's own connection) and
/// answers the reply.
actor TaskBankActor {
    let task: Int64
    private let seed: @Sendable () async throws(StoreError) -> BankSeed
    private let persistence: BankStore?
    private let policy: BankPolicy
    private let logger: Logger
    private var state: TaskBank?
    private var plan: WorkPlan?
    private var record: TaskRecord?
    private let clock: @Sendable () -> Double
    /// Seconds the frontier may stand still before the window is lifted: its unit's worker may
    /// be gone, and no worker would be free to take the unit while all wait on it.
    private let stallSeconds: Double
    private var frontierSeen = (position: -1, at: 0.0)

    init(task: Int64, persistence: BankStore?, policy: BankPolicy, stallSeconds: Double, logger: Logger,
         clock: @escaping @Sendable () -> Double, seed: @escaping @Sendable () async throws(StoreError) -> BankSeed) {
        self.task = task
        self.persistence = persistence
        self.policy = policy
        self.stallSeconds = stallSeconds
        self.logger = logger
        self.clock = clock
        self.seed = seed
    }

    /// The task's feature dimension (loading the bank first).
    func dimension() async throws(StoreError) -> Int {
        try await loaded().bank.dimension
    }

    /// Checks a worker's sync, merges its delta, persists the merge and answers what the worker
    /// misses. A request refused here changed nothing.
    func sync(_ request: BankSyncRequest, dimension: Int) async throws(BankSyncRejection) -> BankSyncReply {
        var bank: TaskBank
        do { bank = try await loaded() } catch { throw .store(error) }
        guard let plan, let record else { throw .store(.unknownTask(task)) }
        if let problem = BankSyncCheck.problem(request, dimension: dimension, taskDimension: bank.bank.dimension, rowCount: bank.bank.rowCount,
                                               samples: record.sampleCount) {
            throw .invalid(problem)
        }
        guard request.since <= bank.version else {
            throw .conflict("bank sync field 'since': \(request.since) is past the bank's version \(bank.version) (a coordinator that lost merges): pull from 0")
        }
        // Mutated in place: a copy would duplicate the whole feature pool (hundreds of MB).
        state = nil
        let outcome = bank.merge(request.delta)
        if !outcome.accepted.isEmpty, let persistence {
            do {
                var features: (model: String, refs: [String?])?
                if let model = plan.model {
                    features = (model.featureKey, try persistence.refs(task: task, job: record.job, positions: outcome.accepted.map(\.key.position)))
                }
                try persistence.applyBankMerge(task: task, accepted: outcome.accepted, evicted: outcome.evicted, version: outcome.version, features: features)
            } catch {
                // Left unloaded: the next sync rebuilds it from the database, which holds the last good state.
                throw .store(error)
            }
        }
        bank.pushed(through: request.position)
        let entryBytes = BankWire.entrySize(dimension: dimension, element: .float16)
        let pulled = bank.pull(since: request.since, excluding: Set(request.delta.entries.map(\.key.position)),
                               budget: max(1, (policy.pullBytes - BankWire.headerSize) / entryBytes))
        let reply = BankSyncReply(delta: pulled.delta, version: pulled.version, behind: pulled.behind, frontier: bank.progress.frontier,
                                  window: window(bank.progress, unitSize: plan.unitSize), maxBehind: policy.maxBehind)
        state = bank
        return reply
    }

    /// Records that a unit will push nothing more (done, or parked as failed), so the frontier
    /// moves past it.
    func finished(unitStartingAt first: Int) {
        state?.finished(unitStartingAt: first)
    }

    /// The positions past the frontier a batch may be scored at (nil: no bound, also while the
    /// frontier has not moved for `stallSeconds`).
    func window(_ progress: UnitProgress, unitSize: Int) -> Int? {
        let now = clock()
        if progress.frontier != frontierSeen.position { frontierSeen = (progress.frontier, now) }
        if now - frontierSeen.at > stallSeconds { return nil }
        switch policy.window {
        case .off: return nil
        case let .positions(n): return n
        case .automatic:
            let unit = max(unitSize, 1)
            return min(max(2 * unit, progress.frontier), 2 * max(progress.active, 1) * unit)
        }
    }

    // MARK: Loading

    /// The bank, rebuilt on first use (also after a restart, or after a failed write): from the
    /// stored entries, their features read from the samples' feature-file rows or, for images,
    /// from the stored features (one query). An entry whose feature cannot be read any more is
    /// left out (and logged): the bank then approximates its former state.
    private func loaded() async throws(StoreError) -> TaskBank {
        if let state { return state }
        let seed = try await seed()
        if let state { return state } // loaded meanwhile
        let plan = seed.plan, task = seed.task
        var entries = [(entry: BankEntry, version: Int64)]()
        if !seed.stored.isEmpty {
            // Rebuilt from the files as they were submitted or not at all: a bank rebuilt from
            // other rows would steer every later score without a trace.
            do {
                try await InputDigests.shared.verify(plan.recordedFeatureFiles(sets: [0, task.oodIndex]))
            } catch {
                logger.error("bank of task \(self.task) not rebuilt", metadata: ["reason": "\(error.description.loggable)"])
                throw .inputChanged("the memory bank of task \(self.task) (\(task.oodName)) cannot be rebuilt: \(error)")
            }
            if let state { return state }
            let files = FeatureFileRows()
            var missing = 0
            for e in seed.stored {
                guard let set = e.set, let item = e.item, set >= 0, set < plan.sets.count else { missing += 1; continue }
                // A feature file's row, normalised as the worker normalised it; a stored image
                // feature is stored normalised: the very vector the worker scored.
                let row = plan.sets[set].features.flatMap { path in (try? files.normalizedRow(path, item: item)) ?? nil } ?? e.feature
                guard let feature = row, feature.count == plan.dimension else { missing += 1; continue }
                entries.append((BankEntry(row: e.row, key: e.key, feature: feature), e.version))
            }
            if missing > 0 { logger.warning("bank of task \(self.task): \(missing) entries whose features could not be read were left out") }
        }
        let bank = TaskBank(rowCount: plan.labelCount, memoryLength: plan.scoring.memoryLength, dimension: plan.dimension,
                            stored: entries, version: task.bankVersion, units: UnitProgress(units: seed.units))
        self.plan = plan
        self.record = task
        state = bank
        return bank
    }
}

/// The tasks' bank actors, made on first use. Holds nothing else, so finding a task's bank is
/// the only step that all syncs share.
actor BankRegistry {
    private var banks: [Int64: TaskBankActor] = [:]

    func bank(task: Int64, make: () -> TaskBankActor) -> TaskBankActor {
        if let bank = banks[task] { return bank }
        let bank = make()
        banks[task] = bank
        return bank
    }

    func existing(task: Int64) -> TaskBankActor? { banks[task] }

    func isLoaded(task: Int64) -> Bool { banks[task] != nil }
}
