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

/// How a worker runs.
public struct WorkerOptions: Sendable {
    public var id: String
    public var host: String
    /// Keep polling for new jobs when nothing is left, instead of exiting.
    public var forever = false
    /// Seconds between polls when no unit is available.
    public var idlePoll: Double = 0.5
    /// Benchmarks: sleep this long per batch, as embedding would cost (a no-op embedder).
    public var simulatedBatchSeconds: Double = 0
    /// Testing: abort the process (SIGABRT, like a trap) on leasing this unit.
    public var crashOnUnit: Int64?
    /// Builds the image embedder of a job's model; nil: CLIP from the model directory.
    public var makeEmbedder: (@Sendable (ModelSource) throws -> any ImageEmbedding)?
    /// The precision the person starting this worker expects (nil: whatever each job says). A
    /// job's planned precision always wins; a different expectation is logged, once per model.
    public var expectedPrecision: Precision?
    /// Where files fetched from the coordinator are kept (`ArtefactCache`); nil: a plan's
    /// paths are read as they are (a shared file system).
    public var artefactCache: URL?
    /// A model folder the plan names that is not on this machine, found another way (a Hub
    /// snapshot through this machine's Hugging Face cache); nil from it: not that kind of
    /// folder. Tried before the coordinator's copy.
    public var resolveModelFolder: (@Sendable (String) throws -> String?)?
    /// `--max-pixels`: this machine's own pixel limit; images are decoded under the smaller of
    /// it and the job's `max_pixels` (`ModelSource.pixelLimit`). nil: the job's.
    public var maxPixels: Int?

    public init(id: String, host: String, forever: Bool = false, idlePoll: Double = 0.5, simulatedBatchSeconds: Double = 0,
                makeEmbedder: (@Sendable (ModelSource) throws -> any ImageEmbedding)? = nil) {
        self.id = id
        self.host = host
        self.forever = forever
        self.idlePoll = idlePoll
        self.simulatedBatchSeconds = simulatedBatchSeconds
        self.makeEmbedder = makeEmbedder
    }
}

/// Totals a worker reports when it stops.
public struct WorkerReport: Sendable {
    public var units = 0
    public var samples = 0
    public var computeSeconds = 0.0
    public var waitSeconds = 0.0
    /// Images this worker embedded (the rest of its image samples had stored features).
    public var embedded = 0
    /// Samples that ended as per-sample errors (unreadable images).
    public var sampleErrors = 0

    /// Share of the worker's busy time spent waiting on the coordinator.
    public var waitShare: Double { computeSeconds + waitSeconds > 0 ? waitSeconds / (computeSeconds + waitSeconds) : 0 }
}

/// A worker: leases units, scores them batch by batch with a local replica of the task's
/// memory bank, syncs the bank every `sync_every` batches, heartbeats, and completes.
/// As a `Service`, it stops gracefully on SIGTERM/SIGINT by releasing its current unit.
public actor Worker: Service {
    let client: CoordinatorClient
    let options: WorkerOptions
    let logger: Logger
    var plans: [Int64: WorkPlan] = [:]
    var replicas: [Int64: TaskReplica] = [:]
    /// Rows of the jobs' feature files, normalised as every reader normalises them.
    let featureFiles = FeatureFileRows()
    var texts: [String: Matrix] = [:]
    var embedders: [String: any ImageEmbedding] = [:]
    public internal(set) var report = WorkerReport()
    private var stopping = false

    public init(client: CoordinatorClient, options: WorkerOptions, logger: Logger = Logger(label: "adaneg.worker")) {
        self.client = client
        self.options = options
        self.logger = logger
        artefacts = options.artefactCache.map { ArtefactCache(root: $0, client: client) }
    }

    /// The coordinator's copies of the files plans name, when this worker may fetch them.
    let artefacts: ArtefactCache?

    /// One task's scorer with its bank replica and the bank version it has seen.
    struct TaskReplica {
        var scorer: AdaNegScorer
        var version: Int64
    }

    /// Runs until no work is left. SIGTERM/SIGINT (graceful shutdown) stops it at once,
    /// wherever it is: retrying an unreachable coordinator, waiting for work, or mid-batch.
    /// The loop is cancelled, so no retry or sleep outlives the signal; a unit in hand is
    /// released on the way out (when the coordinator can be reached within a moment).
    public func run() async throws {
        let loop = Task { try await self.loop() }
        try await withGracefulShutdownHandler {
            do {
                try await loop.value
            } catch is CancellationError {
                return
            }
        } onGracefulShutdown: {
            loop.cancel()
            Task { await self.requestStop() }
        }
    }

    func requestStop() { stopping = true }

    /// Gives a unit back outside the (cancelled) task that held it, trying for a few seconds.
    private func releaseOnStop(_ unit: Int64) async {
        var client = self.client
        client.retryWindow = 3
        client.onRetry = nil
        let worker = options.id
        _ = await Task.detached { try? await client.release(unit: unit, worker: worker) }.value
    }

    private func loop() async throws {
        while !stopping && !Task.isCancelled {
            let started = Date()
            let response = try await client.lease(worker: options.id, host: options.host)
            report.waitSeconds += Date().timeIntervalSince(started)
            guard let grant = response.grant else {
                if response.finished && !options.forever { return }
                try await Task.sleep(nanoseconds: UInt64(options.idlePoll * 1e9))
                continue
            }
            try await process(grant)
        }
    }

    // MARK: One unit

    private func process(_ grant: LeaseGrant) async throws {
        if let crash = options.crashOnUnit, crash == grant.unit { abort() }
        var wait = 0.0
        var compute = 0.0
        var mark = Date()
        /// Adds the time since the last mark to `wait` or `compute`.
        func lap(waiting: Bool) {
            let now = Date()
            if waiting { wait += now.timeIntervalSince(mark) } else { compute += now.timeIntervalSince(mark) }
            mark = now
        }

        let lease = LeaseFlag()
        let heartbeat = startHeartbeat(grant, lost: lease)
        defer { heartbeat.cancel() }
        do {
            let plan = try await self.plan(grant.job)
            var replica = try await self.replica(task: grant.task, plan: plan)
            lap(waiting: true)
            let inputs = try await self.inputs(for: grant, plan: plan)
            let features = inputs.features
            lap(waiting: false)
            let b = plan.scoring.batchSize
            var results = [SampleResult]()
            results.reserveCapacity(grant.count)
            var batchIndex = 0
            var start = 0
            while start < grant.count {
                if stopping || Task.isCancelled {
                    await releaseOnStop(grant.unit)
                    replicas[grant.task] = nil
                    return
                }
                if lease.isLost {
                    // Another worker has the unit now; our bank entries were merged and stay valid.
                    logger.warning("lease on unit \(grant.unit) lost; abandoning it")
                    replicas[grant.task] = replica
                    return
                }
                let end = min(grant.count, start + b)
                batchIndex += 1
                let syncNow = batchIndex % plan.syncEvery == 0 || end >= grant.count
                // Samples without a feature (unreadable images) are left out of the batch;
                // the others keep their own stream positions.
                let usable = (start..<end).filter { inputs.errors[$0] == nil }
                // Bank update first, then the sync, then the adaptive pass: this batch's
                // entries reach the other workers as early as possible.
                let pending = try replica.scorer.beginBatch(features.gatherRows(usable), positions: usable.map { grant.firstSample + $0 })
                lap(waiting: false)
                if syncNow {
                    let delta = replica.scorer.takeBankDelta()
                    // Pushes the batch's entries, pulls until within the coordinator's staleness bound.
                    let step = try await BankCatchUp.step(client, task: grant.task, since: replica.version, position: grant.firstSample + end, delta: delta,
                                                          scoringAt: grant.firstSample + start, dimension: plan.dimension,
                                                          maxWait: grant.leaseSeconds / 2) { replica.scorer.mergeBank($0) }
                    replica.version = step.version
                    lap(waiting: true)
                }
                var scores = replica.scorer.finishBatch(pending).makeIterator()
                if options.simulatedBatchSeconds > 0 {
                    try await Task.sleep(nanoseconds: UInt64(options.simulatedBatchSeconds * 1e9))
                }
                for i in start..<end {
                    if let error = inputs.errors[i] {
                        results.append(.failed(error))
                    } else if let s = scores.next() {
                        // A score that is not a number cannot be sent (JSON has no NaN) or ranked:
                        // that sample's error, never the unit's.
                        let finite = [s.conf, s.confVanilla, s.mcm, s.adaptive].allSatisfy(\.isFinite)
                        results.append(finite ? .scored(s) : .failed("sample \(grant.firstSample + i): its scores are not finite (NaN or ±∞)"))
                    }
                }
                lap(waiting: false)
                start = end
            }
            replicas[grant.task] = replica
            let request = CompletionRequest(worker: options.id, attempt: grant.attempt, results: UnitResults(results), computeSeconds: compute, waitSeconds: wait,
                                            bank: replica.scorer.bank.occupancy(numID: plan.numID), features: inputs.upload)
            let outcome = try await client.complete(unit: grant.unit, request)
            lap(waiting: true)
            if outcome == .duplicate {
                logger.notice("unit \(grant.unit) was already completed elsewhere")
            } else {
                report.units += 1
                report.samples += grant.count
                report.sampleErrors += inputs.errors.count { $0 != nil }
            }
        } catch let error as ClientError where error.status == 409 {
            // The lease expired and the unit went to another worker: its results win.
            logger.warning("unit \(grant.unit): \(error)")
            replicas[grant.task] = nil
        } catch let error as ClientError {
            replicas[grant.task] = nil
            throw error
        } catch let error where error is CancellationError || Task.isCancelled {
            await releaseOnStop(grant.unit)
            replicas[grant.task] = nil
            throw CancellationError()
        } catch let error as WorkerError where error.releasesUnit {
            // The device or this machine's disk broke, not the unit: give the unit back and
            // stop, since a CUDA error leaves the context unusable (a restarted worker gets a
            // fresh one) and a full disk stays full until someone frees it.
            replicas[grant.task] = nil
            embedders = [:]
            logger.error("unit \(grant.unit) released: \(error)")
            try await client.release(unit: grant.unit, worker: options.id)
            throw error
        } catch {
            replicas[grant.task] = nil
            logger.error("unit \(grant.unit) failed: \(error)")
            try await client.fail(unit: grant.unit, worker: options.id, error: "\(error)")
        }
        report.computeSeconds += compute
        report.waitSeconds += wait
    }

    private func startHeartbeat(_ grant: LeaseGrant, lost: LeaseFlag) -> Task<Void, Never> {
        let client = self.client
        let worker = options.id
        let interval = max(grant.leaseSeconds / 3, 0.05)
        return Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                if Task.isCancelled { return }
                if (try? await client.heartbeat(unit: grant.unit, worker: worker)) == false { lost.markLost() }
            }
        }
    }
}

/// Set by the heartbeat task when the coordinator says the lease is no longer ours.
final class LeaseFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var lost = false

    func markLost() { lock.lock(); lost = true; lock.unlock() }
    var isLost: Bool { lock.lock(); defer { lock.unlock() }; return lost }
}
