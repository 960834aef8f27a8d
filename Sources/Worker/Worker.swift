import AdaNeg
import Foundation
import JobClient
import JobPlan
import JobProtocol
import Logging
import NPY
import Platform
import ServiceLifecycle
import Tensor

/// A worker: leases units, scores each batch by batch with a local replica of the task's
/// memory bank (`UnitScorer`), heartbeats while it works (a child task of the unit), and
/// completes. As a `Service`, graceful shutdown (SIGTERM/SIGINT) cancels its loop wherever it
/// is — retrying an unreachable coordinator, waiting for work, mid-batch — and a unit in hand
/// is released on the way out.
public actor Worker: Service {
    /// The coordinator, over HTTP (`CoordinatorClient`) or in process (tests).
    let api: any CoordinatorAPI
    let options: WorkerOptions
    let logger: Logger
    var plans: [Int64: WorkPlan] = [:]
    /// Bank replicas between units of a task; taken out while a unit is scored, so a unit that
    /// ends badly leaves none behind (it is pulled again in full).
    var replicas: [Int64: TaskReplica] = [:]
    /// Rows of the jobs' feature files, normalised as every reader normalises them.
    let featureFiles: FeatureFileRows
    /// Leased units' rows read from this machine's copies of the feature files (`--rows`).
    let localRows: LocalUnitRows
    var texts: [String: Matrix] = [:]
    /// The stored features of the task of the last sweep unit (`Worker+Sweep.swift`): the next
    /// unit of the same task needs them again.
    var sweepTaskFeatures: (task: Int64, features: SweepFeatures)?
    var embedders: [String: any ImageEmbedding] = [:]
    /// The image features embedded for the last unit scored, by reference, kept until the next
    /// one is: its completion may still be on its way when the next unit is leased, and that
    /// lease cannot carry them yet.
    var lastEmbedded: [String: (vector: [Float]?, error: String?)] = [:]
    public internal(set) var report = WorkerReport()
    /// The coordinator's copies of the files plans name, when this worker may fetch them.
    let artefacts: ArtefactCache?

    public init(client: CoordinatorClient, options: WorkerOptions, logger: Logger = Logger(label: "adaneg.worker")) {
        self.init(api: client, options: options, artefacts: options.artefactCache.map { ArtefactCache(root: $0, client: client) }, logger: logger)
    }

    init(api: any CoordinatorAPI, options: WorkerOptions, artefacts: ArtefactCache? = nil, logger: Logger = Logger(label: "adaneg.worker")) {
        self.api = api
        self.options = options
        self.artefacts = artefacts
        self.logger = logger
        let files = FeatureFileRows()
        self.featureFiles = files
        self.localRows = LocalUnitRows(source: options.rows, files: files) { [logger] in logger.warning("\($0)") }
    }

    /// Runs until no work is left, or until graceful shutdown cancels it (then it returns
    /// normally, its unit released).
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await self.loop() }
        } catch let error where error is CancellationError || Task.isShuttingDownGracefully {
            return
        }
    }

    func loop() async throws {
        // The completion of the unit before, sent while the next is leased and scored: storing a
        // thousand workers' results takes the coordinator a while, and a worker that waited for
        // its answer would sit idle meanwhile. At most one is in flight.
        try await withThrowingTaskGroup(of: Void.self) { sending in
            while !Task.isCancelled {
                var clock = WorkClock()
                let response = try await api.lease(worker: options.id, host: options.host)
                clock.lap(waiting: true)
                report.waitSeconds += clock.wait
                guard let grant = response.grant else {
                    // The unit in flight may be the job's last: once it is stored, ask again.
                    if try await sending.next() != nil { continue }
                    // No job unit waiting: a fleet sweep's unit, if any (`Worker+Sweep.swift`).
                    if try await takeSweepUnit() { continue }
                    if response.finished && !options.forever { return }
                    // Nothing to do yet, or the coordinator is busy and says when to come back.
                    try await Task.sleep(nanoseconds: UInt64(response.wait(idlePoll: options.idlePoll) * 1e9))
                    continue
                }
                let scored = try await process(grant)
                try await sending.next()
                if let scored { sending.addTask { try await self.send(scored) } }
            }
            try await sending.waitForAll()
        }
    }

    // MARK: One unit

    /// A unit scored, with the completion that reports it.
    struct ScoredUnit: Sendable {
        var grant: LeaseGrant
        var request: CompletionRequest
        var sampleErrors: Int
    }

    /// Scores one unit with its heartbeat beside it, then sorts out how it ended
    /// (`UnitFailure`). Returns the completion to send, when the unit was scored.
    private func process(_ grant: LeaseGrant) async throws -> ScoredUnit? {
        if let crash = options.crashOnUnit, crash == grant.unit { abort() }
        var clock = WorkClock()
        defer {
            report.computeSeconds += clock.compute
            report.waitSeconds += clock.wait
        }
        let lease = LeaseFlag()
        do {
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [api, options] in await Heartbeat.run(api, grant: grant, worker: options.id, lost: lease) }
                defer { group.cancelAll() }
                return try await score(grant, lease: lease, clock: &clock)
            }
        } catch {
            try await recover(from: error, unit: grant)
            return nil
        }
    }

    private func score(_ grant: LeaseGrant, lease: LeaseFlag, clock: inout WorkClock) async throws -> ScoredUnit? {
        let plan = try await self.plan(grant.job)
        var replica = try await self.replica(task: grant.task, plan: plan)
        clock.lap(waiting: true)
        let inputs = try await self.inputs(for: grant, plan: plan)
        clock.lap(waiting: false)
        let scorer = UnitScorer(grant: grant, plan: plan, inputs: inputs, bank: api,
                                simulatedBatchSeconds: options.simulatedBatchSeconds, leaseLost: { lease.isLost })
        switch try await scorer.score(&replica, clock: &clock) {
        case .stopped:
            await releaseOnStop(grant.unit)
            return nil
        case .leaseLost:
            // Another worker has the unit now; our bank entries were merged and stay valid.
            logger.warning("lease on unit \(grant.unit) lost; abandoning it")
            replicas[grant.task] = replica
            return nil
        case let .scored(results):
            replicas[grant.task] = replica
            let request = CompletionRequest(worker: options.id, attempt: grant.attempt, results: UnitResults(results),
                                            computeSeconds: clock.compute, waitSeconds: clock.wait,
                                            bank: replica.scorer.bank.occupancy(numID: plan.numID), features: inputs.upload)
            if let upload = inputs.upload, let refs = grant.refs, refs.count == upload.count {
                var features = [String: (vector: [Float]?, error: String?)]()
                for (i, ref) in refs.enumerated() {
                    guard let ref, upload.feature(i) != nil || upload.errors[i] != nil else { continue }
                    features[ref] = (upload.feature(i), upload.errors[i])
                }
                lastEmbedded = features
            }
            return ScoredUnit(grant: grant, request: request, sampleErrors: inputs.errors.count { $0 != nil })
        }
    }

    /// Sends a scored unit's completion (beside the next unit); a refusal is sorted out as a
    /// unit's error is.
    private func send(_ unit: ScoredUnit) async throws {
        do {
            let outcome = try await api.complete(unit: unit.grant.unit, unit.request)
            if outcome == .duplicate {
                logger.notice("unit \(unit.grant.unit) was already completed elsewhere")
            } else {
                report.units += 1
                report.samples += unit.grant.count
                report.sampleErrors += unit.sampleErrors
            }
        } catch {
            try await recover(from: error, unit: unit.grant)
        }
    }

    /// What a unit that threw does next (`UnitFailure` says which case an error is).
    private func recover(from error: any Error, unit grant: LeaseGrant) async throws {
        replicas[grant.task] = nil
        switch UnitFailure(error) {
        case .leaseLost:
            // The lease expired and the unit went to another worker: its results win.
            logger.warning("unit \(grant.unit): \(error)")
        case .stopped:
            await releaseOnStop(grant.unit)
            throw CancellationError()
        case .coordinator:
            throw error
        case .machine:
            // The device or this machine's disk broke, not the unit: give the unit back and
            // stop, since a CUDA error leaves the context unusable (a restarted worker gets a
            // fresh one) and a full disk stays full until someone frees it.
            embedders = [:]
            logger.error("unit \(grant.unit) released: \(error)")
            try await api.release(unit: grant.unit, worker: options.id)
            throw error
        case .unit:
            logger.error("unit \(grant.unit) failed: \(error)")
            try await api.fail(unit: grant.unit, worker: options.id, error: "\(error)")
        }
    }

    /// Gives a unit back on the way out. The worker's task is cancelled (that is why it
    /// stops), so the call runs in a task of its own, awaited, with a short retry window.
    private func releaseOnStop(_ unit: Int64) async {
        let api = self.api.retrying(within: 3)
        let worker = options.id
        _ = await Task.detached { try? await api.release(unit: unit, worker: worker) }.value
    }
}

/// How a unit that threw ended, from the error: decides whether the worker fails the unit,
/// gives it back, or stops.
enum UnitFailure: Equatable {
    /// The coordinator says the lease is no longer ours: drop the unit, go on.
    case leaseLost
    /// The worker is stopping (cancelled): release the unit, stop.
    case stopped
    /// The coordinator refused a call or cannot be reached: stop (the lease expires).
    case coordinator
    /// This machine failed (device, disk), not the unit: release it, stop.
    case machine
    /// The unit's input or plan is bad: fail it (it counts an attempt), go on.
    case unit

    init(_ error: any Error) {
        if let api = error as? any CoordinatorAPIError, api.leaseLost {
            self = .leaseLost
        } else if error is CancellationError || Task.isCancelled {
            self = .stopped
        } else if error is any CoordinatorAPIError {
            self = .coordinator
        } else if let worker = error as? WorkerError, worker.releasesUnit {
            self = .machine
        } else {
            self = .unit
        }
    }
}
