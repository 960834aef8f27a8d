import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import JobStore
import Logging
import NIOCore

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

    /// The values each setting accepts (`serve`/`run` flags and the simulation check them here):
    /// a pull must hold its header and at least a few entries, and no reply may grow past what
    /// a request body may be.
    public static let pullBytesRange = 4096...(64 << 20)
    public static let maxBehindRange = 0...1_000_000_000
    public static let windowRange = 1...1_000_000_000

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

/// How a task's bank stores its merges: on the coordinator's one writer, through its group
/// commit. `enqueue` is synchronous, so a bank's merges are queued, and run, in the order the
/// actor made them; `stored(through:)` returns once write `id` (and every prompt write queued
/// before it) ran, without waiting for the coordinator's actor when another commit ran it.
struct BankPersistence: Sendable {
    let group: GroupCommit
    /// The database's path, for messages.
    let path: String
    /// Asks the coordinator for a commit, as the group's leader; false once it is gone.
    let commit: @Sendable (_ until: Int) async -> Bool

    /// Persistence on `coordinator`'s writer (held weakly: a bank must not keep a dropped
    /// coordinator, and its database lock, alive; without it nothing is committed and the
    /// write is reported lost).
    init(_ coordinator: Coordinator, path: String) {
        group = coordinator.groupCommit
        self.path = path
        commit = { [weak coordinator] id in
            guard let coordinator else { return false }
            await coordinator.commitAsLeader(until: id)
            return true
        }
    }

    func stored(through id: Int) async {
        await group.waitUntilRun(id, commit: commit, gone: .database(path: path, message: "the coordinator stopped before bank merge \(id) was stored"))
    }
}

/// One task's authoritative bank as its own actor: merges of different tasks run in parallel,
/// and no lease or completion waits behind a merge (the `Coordinator` actor only runs the
/// grouped writes). One call checks a sync, merges it in memory, queues its persistence on the
/// coordinator's one writer (`GroupCommit`) and answers the reply once what it answers is stored.
actor TaskBankActor {
    let task: Int64
    private let seed: @Sendable () async throws(StoreError) -> BankSeed
    private let persistence: BankPersistence
    /// This bank's merges as a line of writes: one not stored stops the ones after it.
    private var line = GroupCommit.Line()
    /// The id of the last merge queued; a reply waits for it, so a worker never holds entries
    /// that a coordinator killed now would not have stored.
    private var lastWrite = 0
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

    init(task: Int64, persistence: BankPersistence, policy: BankPolicy, stallSeconds: Double, logger: Logger,
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
    /// misses, as float32 entries (in-process callers). A request refused here changed nothing.
    func sync(_ request: BankSyncRequest, dimension: Int) async throws(BankSyncRejection) -> BankSyncReply {
        do { _ = try await loaded() } catch { throw .store(error) }
        let (reply, _, mine) = try merged(request, dimension: dimension, wire: false)
        try await stored(through: lastWrite, mine: mine)
        return reply
    }

    /// `sync`, answered as the HTTP reply's body (`BankWire`, float16): the pulled entries'
    /// bytes as encoded when they were accepted (`TaskBank.body`), not encoded again.
    func syncBody(_ request: BankSyncRequest, dimension: Int) async throws(BankSyncRejection) -> ByteBuffer {
        do { _ = try await loaded() } catch { throw .store(error) }
        let (_, body, mine) = try merged(request, dimension: dimension, wire: true)
        try await stored(through: lastWrite, mine: mine)
        guard let body else { throw .store(.unknownTask(task)) }
        return body
    }

    /// Checks, merges, queues the merge's write and pulls, on the loaded bank, without a
    /// suspension point: the bank is mutated in place and no copy of it outlives this call, so
    /// a sync that enters the actor while another awaits its write finds it uniquely referenced
    /// (a copy held across the await made every overlapping merge copy the whole feature pool).
    /// `wire`: answer the reply's body (its `delta` then left empty), else the entries.
    private func merged(_ request: BankSyncRequest, dimension: Int, wire: Bool) throws(BankSyncRejection) -> (BankSyncReply, body: ByteBuffer?, mine: Int?) {
        guard var bank = state else { throw .store(.unknownTask(task)) }
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
        var mine: Int?
        if !outcome.accepted.isEmpty {
            let (task, job, model) = (task, record.job, plan.model?.featureKey)
            let id = persistence.group.enqueue(.prompt, line: line) { writer throws(StoreError) -> any Sendable in
                try writer.applyBankMerge(task: task, job: job, accepted: outcome.accepted, evicted: outcome.evicted,
                                          version: outcome.version, featureModel: model)
            }
            (mine, lastWrite) = (id, id)
        }
        bank.pushed(through: request.position)
        let pulled = bank.pull(since: request.since, excluding: Set(request.delta.entries.map(\.key.position)),
                               budget: max(1, (policy.pullBytes - BankWire.headerSize) / bank.entryBytes))
        var reply = BankSyncReply(version: pulled.version, behind: pulled.behind, frontier: bank.progress.frontier,
                                  window: window(bank.progress, unitSize: plan.unitSize), maxBehind: policy.maxBehind)
        var body: ByteBuffer?
        if wire {
            body = bank.body(BankWire.replyHeader(reply, count: pulled.pools.count, since: request.since, position: request.position,
                                                  dimension: bank.bank.dimension), pulled.pools)
        } else {
            reply.delta = bank.entries(pulled.pools)
        }
        state = bank
        return (reply, body, mine)
    }

    /// Waits until every merge up to `id` ran on the writer; throws when one of them (`mine`,
    /// or one before it that this reply's entries may come from) was not stored. The bank is
    /// then dropped and rebuilt on the next sync from what the database holds.
    private func stored(through id: Int, mine: Int?) async throws(BankSyncRejection) {
        guard id > 0 else { return }
        let waited = line
        await persistence.stored(through: id)
        var failure = waited.failure
        if let mine {
            switch persistence.group.take(mine) {
            case .success?: break
            case let .failure(error)?: failure = failure ?? error
            case nil: failure = failure ?? .database(path: persistence.path, message: "the coordinator stopped before bank merge \(mine) was stored")
            }
        }
        guard let failure else { return }
        if waited === line {
            // Left unloaded: the next sync rebuilds it from the database, which holds the last good state.
            state = nil
            line = GroupCommit.Line()
        }
        throw .store(failure)
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
