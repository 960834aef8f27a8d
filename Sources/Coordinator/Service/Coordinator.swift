import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import JobSpec
import JobStore
import Logging
import NPY
import Synchronization
import TensorCore

/// Lease and retry policy.
public struct CoordinatorConfiguration: Sendable {
    /// How long a lease lasts without a heartbeat.
    public var leaseSeconds: Double = 60
    /// A unit that fails this many times is parked as failed.
    public var maxAttempts: Int = 3
    /// Also park a unit whose lease expired after `maxAttempts` leases (its workers died on
    /// it). `serve` and `run` turn this on; off, an expired lease always returns the unit to
    /// pending (what a test driving expiries by hand wants).
    public var parkExpiredLeases: Bool = false
    /// Pull budget and staleness bounds of the banks (`BankPolicy`).
    public var banks = BankPolicy()

    public init(leaseSeconds: Double = 60, maxAttempts: Int = 3, parkExpiredLeases: Bool = false, banks: BankPolicy = BankPolicy()) {
        self.leaseSeconds = leaseSeconds
        self.maxAttempts = maxAttempts
        self.parkExpiredLeases = parkExpiredLeases
        self.banks = banks
    }
}

/// The coordinator's state machine: jobs, leases, completions and the authoritative memory
/// banks. An actor, so the SQLite store has exactly one writer and every transition is
/// serialised.
public actor Coordinator {
    /// The actor runs on its own serial queue (`WriterExecutor`), not the cooperative pool.
    private nonisolated let executor = WriterExecutor()
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let store: StoreWriter
    /// The database's path, for messages from outside the actor.
    nonisolated let storePath: String
    public let configuration: CoordinatorConfiguration
    let clock: @Sendable () -> Double
    let logger: Logger
    /// The tasks' authoritative banks, each its own actor (`TaskBankActor`).
    let banks = BankRegistry()
    private var plans: [Int64: WorkPlan] = [:]
    /// The same plans, readable without the actor (`knownPlan`): a leased unit's rows are served
    /// without queueing behind completions on it. Plans never change once stored.
    private nonisolated let sharedPlans = Mutex<[Int64: WorkPlan]>([:])
    private var leasedRefs = LeasedReferences()
    /// Tasks' streams as leases slice them (`TaskStreams`): read once per task, not per lease,
    /// and outside the actor (`grant`).
    private nonisolated let streams = Mutex(TaskStreams())
    /// Files the stored plans name, by content: what `GET /v1/artefacts/{sha256}` serves.
    private var artefacts = ArtefactIndex()
    /// The jobs' feature files, whose rows a lease holder fetches (`unitRows`): workers need no
    /// copy of them.
    let featureFiles = FeatureFileRows()
    /// Leases that expired, for status and metrics.
    public nonisolated var expiredLeases: Int { expiredLeaseCount.load(ordering: .relaxed) }
    private let expiredLeaseCount = Atomic<Int>(0)
    /// Read-only connections for the GET routes and `/metrics` (nil: an in-memory database,
    /// read through the writer): reads never wait for the actor (`read`).
    nonisolated let readers: StoreReaders?
    /// Writes queued from outside the actor, committed in groups on `store` (`write`).
    nonisolated let groupCommit = GroupCommit()
    /// Reads image jobs' model folders for planning (the model code lives above this module).
    let models: any ModelFacts

    /// `models` reads the model folders of image jobs (`CLIPModelFacts`); the default plans
    /// feature jobs only.
    public init(
        databasePath: String, configuration: CoordinatorConfiguration = .init(),
        models: any ModelFacts = NoModelFacts(),
        logger: Logger = Logger(label: "adaneg.coordinator"),
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) throws(StoreError) {
        store = try StoreWriter(path: databasePath)
        storePath = store.path
        readers = store.makeReaders()
        self.configuration = configuration
        self.models = models
        self.clock = clock
        self.logger = logger
    }

    public var databasePath: String { store.path }

    // MARK: Jobs

    /// Plans and stores a job. Submitting the same spec again is a no-op that returns the
    /// existing job (so `run` can be re-run to resume); a different spec under an existing
    /// name is refused. The stored spec is the canonical form (every key, absolute paths), so
    /// the job can be re-derived (`rescore`) wherever the database is opened. Planning reads and
    /// hashes every input file, so it runs outside the actor (`Planner.planOffPool`).
    public nonisolated func submit(_ spec: JobSpec) async throws(StoreError) -> SubmitResponse {
        if let existing = try await existingJob(spec) { return existing }
        let output: Planner.Output
        do {
            output = try await Planner.planOffPool(spec, models: models)
        } catch {
            throw .invalidJob(error.messages)
        }
        let submitted = try await insert(spec, output)
        if submitted.created { try await warmStreams(job: submitted.job) }
        return submitted
    }

    /// Reads a new job's task streams into `TaskStreams` on a read-only connection, before the
    /// submission is answered: otherwise a fleet waiting for the job would make its first
    /// leases read them, each task's leases waiting on one read.
    private nonisolated func warmStreams(job: Int64) async throws(StoreError) {
        for task in try await tasks(job: job) { _ = try await samples(task: task, first: 0, count: 0) }
    }

    /// Samples `first ..< first + count` of `task`'s stream, sliced from `TaskStreams` (the
    /// stream read first, once, on a read-only connection).
    nonisolated func samples(task: TaskRecord, first: Int, count: Int) async throws(StoreError) -> TaskStreams.Samples {
        try await read { @Sendable r throws(StoreError) in
            try self.streams.withLock { streams throws(StoreError) in
                try streams.samples(task: task.id, first: first, count: count, streamCount: task.sampleCount,
                                    stream: { () throws(StoreError) in try r.stream(task: task.id) },
                                    unit: { () throws(StoreError) in try r.samples(task: task.id, first: first, count: count) })
            }
        }
    }

    /// The job already stored under the spec's name, when its spec is this one.
    private func existingJob(_ spec: JobSpec) throws(StoreError) -> SubmitResponse? {
        guard let existing = try store.job(named: spec.name) else { return nil }
        guard existing.specYAML == spec.canonicalYAML() else { throw .jobConflict(name: spec.name) }
        return try summary(existing, created: false)
    }

    private func insert(_ spec: JobSpec, _ output: Planner.Output) throws(StoreError) -> SubmitResponse {
        // The same name may have been submitted while this one was planned.
        if let existing = try existingJob(spec) { return existing }
        let id = try store.insertJob(name: spec.name, specYAML: spec.canonicalYAML(), now: clock(), makePlan: { id throws(StoreError) in
            let plan = output.plan(id)
            guard let data = try? JSONEncoder().encode(plan), let text = String(data: data, encoding: .utf8) else {
                throw .database(path: store.path, message: "cannot encode the work plan")
            }
            return text
        }, tasks: output.tasks, items: output.items)
        logger.info("job submitted", metadata: ["job": "\(spec.name)", "tasks": "\(output.tasks.count)"])
        _ = try plan(job: id)
        guard let record = try store.job(id: id) else { throw .unknownJob(spec.name) }
        return try summary(record, created: true)
    }

    private func summary(_ job: JobRecord, created: Bool) throws(StoreError) -> SubmitResponse {
        let tasks = try store.tasks(job: job.id)
        let counts = try store.unitCounts(job: job.id)
        return SubmitResponse(job: job.id, name: job.name, tasks: tasks.count, units: counts.total,
                              samples: tasks.reduce(0) { $0 + $1.sampleCount }, created: created)
    }

    public func plan(job id: Int64) throws(StoreError) -> WorkPlan {
        if let plan = plans[id] { return plan }
        let plan = try store.plan(job: id)
        plans[id] = plan
        sharedPlans.withLock { $0[id] = plan }
        artefacts.add(plan)
        return plan
    }

    /// A job's plan without the actor once this process has read it; else through `plan(job:)`.
    nonisolated func knownPlan(job id: Int64) async throws(StoreError) -> WorkPlan {
        if let plan = sharedPlans.withLock({ $0[id] }) { return plan }
        return try await plan(job: id)
    }

    /// The file a stored plan names with this content digest, and its recorded size; nil when
    /// no job names one. Only files of plans are ever served, never an arbitrary path.
    public func artefact(sha256: String) throws(StoreError) -> (path: String, bytes: Int)? {
        if !artefacts.coversAllJobs {
            // Once per process: the plans stored before it started. Later jobs are indexed as
            // they are submitted, so an unknown digest never scans the store again.
            for job in try store.jobs() { _ = try plan(job: job.id) }
            artefacts.coversAllJobs = true
        }
        return artefacts.file(sha256: sha256)
    }

    public func job(named name: String) throws(StoreError) -> JobRecord {
        guard let record = try store.job(named: name) else { throw .unknownJob(name) }
        return record
    }

    public nonisolated func jobs() async throws(StoreError) -> [JobRecord] { try await read { r throws(StoreError) in try r.jobs() } }

    // MARK: Leases

    /// A unit leased by the store, with its task and plan: `lease` completes the grant outside
    /// the actor (its samples, its files checked).
    struct LeasedUnit: Sendable {
        var unit: UnitRecord
        var task: TaskRecord
        var plan: WorkPlan
        /// The sets the unit's task reads (its bank too): the ID set and its OOD set.
        var taskSets: [Int] { [0, task.oodIndex] }
    }

    /// Takes the next unit from the store (`lease` slices its samples and checks its files,
    /// outside the actor).
    func leaseUnit(worker: String, host: String) throws(StoreError) -> LeaseStep {
        let now = clock()
        let (expires, parkAfter) = (now + configuration.leaseSeconds, configuration.parkExpiredLeases ? configuration.maxAttempts : nil)
        let (leased, expired) = try writeNow { store throws(StoreError) in
            try store.leaseNext(worker: worker, host: host, now: now, expires: expires, parkAfter: parkAfter)
        }
        if expired > 0 {
            expiredLeaseCount.add(expired, ordering: .relaxed)
            logger.warning("leases expired", metadata: ["count": "\(expired)"])
        }
        guard let unit = leased else {
            return .empty(LeaseResponse(grant: nil, finished: try store.unitCounts(job: nil).isFinished))
        }
        guard let task = try store.task(id: unit.task) else { throw .unknownTask(unit.task) }
        return .unit(LeasedUnit(unit: unit, task: task, plan: try plan(job: task.job)))
    }

    /// The grant of a leased unit: its samples sliced from the task's stream, read once per
    /// task on a read-only connection (`TaskStreams`), so the first leases of a fleet do not
    /// queue behind the reading of whole streams on the actor; an image job's stored features
    /// come from the actor, which remembers the unit's references.
    nonisolated func grant(_ leased: LeasedUnit) async throws(StoreError) -> LeaseGrant {
        let (unit, task) = (leased.unit, leased.task)
        let samples = try await samples(task: task, first: unit.firstSample, count: unit.sampleCount)
        var grant = LeaseGrant(unit: unit.id, task: unit.task, job: task.job, firstSample: unit.firstSample,
                               sets: samples.sets, items: samples.items, labels: samples.labels,
                               leaseSeconds: configuration.leaseSeconds, attempt: unit.attempts)
        if let model = leased.plan.model {
            let (refs, stored) = try await storedFeatures(unit: unit, job: task.job, model: model.featureKey, sets: samples.sets, items: samples.items)
            grant.refs = refs
            grant.stored = StoredFeatures(dimension: leased.plan.dimension, features: stored.map { $0?.vector }, errors: stored.map { $0?.error })
        }
        return grant
    }

    /// An image unit's references and the features stored for them; the references are
    /// remembered for its completion and the bank's merges.
    private func storedFeatures(unit: UnitRecord, job: Int64, model: String, sets: [Int], items: [Int])
        throws(StoreError) -> ([String?], [StoreReader.StoredFeature?]) {
        let refs = try store.refs(job: job, sets: sets, items: items)
        let stored = try store.features(model: model, refs: refs)
        leasedRefs.remember(task: unit.task, firstSample: unit.firstSample, refs: refs)
        return (refs, stored)
    }

    /// Extends the worker's lease; a refused heartbeat (unknown unit, not the holder) leaves no
    /// trace, so arbitrary worker ids do not accumulate in the status.
    /// Heartbeats are group-committed (`write`): many workers' beats cost one transaction.
    public nonisolated func heartbeat(unit: Int64, worker: String) async throws(StoreError) -> Bool {
        let now = clock(), expires = now + configuration.leaseSeconds
        return try await write { store throws(StoreError) -> Bool in
            guard try store.extendLease(unit: unit, worker: worker, expires: expires) else { return false }
            try store.touchWorker(id: worker, host: "", now: now)
            return true
        }
    }

    /// Accepts a unit's results once. A completion for a unit that is already done is a
    /// harmless duplicate; one from a worker that does not hold the lease is refused and
    /// changes nothing. It is checked outside the actor, on a read-only connection (the write
    /// checks the lease again, so a check that raced another change stores nothing wrong), and
    /// its result rows are queued as a bulk write, stored in a slice of some later commit
    /// (`GroupCommit`): the leases and syncs that arrive during a wave of a thousand
    /// completions do not wait for all of it. Answered once committed.
    public nonisolated func complete(unit id: Int64, _ request: CompletionRequest) async throws(StoreError) -> CompletionOutcome {
        guard let checked = try await checkCompletion(unit: id, request) else { return .duplicate }
        let (unit, now) = (checked.unit, clock())
        // Only an image job's completion needs the actor here (the lease's references).
        let features = request.features == nil ? nil : try await featureEntries(request, unit: unit, job: checked.job, plan: checked.plan)
        let stored = try await write(.bulk) { writer throws(StoreError) in
            try writer.complete(unit: unit, request: request, now: now, features: features)
        }
        guard stored else {
            logger.notice("duplicate completion ignored", metadata: ["unit": "\(id)", "worker": "\(request.worker.loggable)"])
            return .duplicate
        }
        try await completed(unit: unit, job: checked.job, plan: checked.plan)
        return .accepted
    }

    /// The unit a completion reports, its job and plan, once the completion is checked against
    /// them (nil: the unit is done already, a duplicate).
    private nonisolated func checkCompletion(unit id: Int64, _ request: CompletionRequest) async throws(StoreError) -> (unit: UnitRecord, job: Int64, plan: WorkPlan)? {
        let (found, task) = try await read { r throws(StoreError) -> (UnitRecord?, TaskRecord?) in
            guard let unit = try r.unit(id: id) else { return (nil, nil) }
            return (unit, try r.task(id: unit.task))
        }
        guard let unit = found else { throw .unknownUnit(id) }
        if unit.state == .done {
            logger.notice("duplicate completion ignored", metadata: ["unit": "\(id)", "worker": "\(request.worker.loggable)"])
            return nil
        }
        guard unit.state == .leased, unit.leaseOwner == request.worker, unit.attempts == request.attempt else {
            throw .notLeaseHolder(unit: id, worker: request.worker)
        }
        let r = request.results
        guard r.isConsistent, r.count == unit.sampleCount else {
            throw .invalidResults(unit: id, reason: "expected \(unit.sampleCount) samples in equal-length columns, got \(r.count)")
        }
        guard let task else { throw .unknownTask(unit.task) }
        let plan = try await knownPlan(job: task.job)
        if let problem = CompletionCheck.problem(request, plan: plan) { throw .invalidResults(unit: id, reason: problem) }
        return (unit, task.job, plan)
    }

    /// The image features a completion uploads, by reference, as the completion stores them
    /// (nil: none sent).
    private func featureEntries(_ request: CompletionRequest, unit: UnitRecord, job: Int64, plan: WorkPlan)
        throws(StoreError) -> (model: String, entries: [(ref: String, vector: [Float]?, error: String?)])? {
        guard let uploaded = request.features else { return nil }
        let id = unit.id
        guard let model = plan.model else { throw .invalidResults(unit: id, reason: "features sent for a job without image sets") }
        if let problem = uploaded.problem { throw .invalidResults(unit: id, reason: "features: \(problem)") }
        guard uploaded.count == unit.sampleCount, uploaded.dimension == plan.dimension else {
            throw .invalidResults(unit: id, reason: "features: expected \(unit.sampleCount) samples of \(plan.dimension) floats, got \(uploaded.count) of \(uploaded.dimension)")
        }
        let refs = try imageRefs(task: unit.task, job: job, positions: Array(unit.firstSample ..< unit.firstSample + unit.sampleCount))
        let entries = refs.indices.compactMap { i -> (ref: String, vector: [Float]?, error: String?)? in
            guard let ref = refs[i] else { return nil }
            let vector = uploaded.feature(i), error = uploaded.errors[i]
            return vector == nil && error == nil ? nil : (ref, vector, error)
        }
        return (model.featureKey, entries)
    }

    /// What follows a stored completion: its lease's references are dropped, a finished job's
    /// features too when it keeps none, and the task's bank frontier moves past the unit.
    private func completed(unit: UnitRecord, job: Int64, plan: WorkPlan) async throws(StoreError) {
        leasedRefs.forget(task: unit.task, firstSample: unit.firstSample, count: unit.sampleCount)
        if let model = plan.model, !plan.keepFeatures, try store.unitCounts(job: job).isFinished {
            try store.deleteFeatures(job: job, model: model.featureKey)
            logger.info("job finished; its image features were dropped (keep_features: false)", metadata: ["job": "\(plan.jobName)"])
        }
        await unitFinished(task: unit.task, firstSample: unit.firstSample)
    }

    public func fail(unit: Int64, worker: String, error: String) async throws(StoreError) -> UnitState? {
        let maxAttempts = configuration.maxAttempts
        let state = try writeNow { store throws(StoreError) in try store.fail(unit: unit, worker: worker, error: error, maxAttempts: maxAttempts) }
        logger.warning("unit failed", metadata: ["unit": "\(unit)", "worker": "\(worker.loggable)", "error": "\(error.loggable)", "now": "\(state?.rawValue ?? "not held")"])
        if state == .failed, let parked = try store.unit(id: unit) { await unitFinished(task: parked.task, firstSample: parked.firstSample) }
        return state
    }

    public func release(unit: Int64, worker: String) throws(StoreError) -> Bool {
        try writeNow { store throws(StoreError) in try store.release(unit: unit, worker: worker) }
    }

    /// A worker process died (the embedded `run` saw it exit on a signal or with an error):
    /// each unit it held counts a failed attempt with `reason`, and is parked as failed after
    /// `maxAttempts`, so a unit that kills every worker ends instead of looping. Returns the
    /// units and their new states.
    public func workerDied(_ worker: String, reason: String) async throws(StoreError) -> [(unit: Int64, state: UnitState)] {
        var out = [(unit: Int64, state: UnitState)]()
        for unit in try store.leasedUnits(worker: worker) {
            if let state = try await fail(unit: unit.id, worker: worker, error: reason) { out.append((unit.id, state)) }
        }
        return out
    }

    /// Called once when a coordinator starts serving: see `SQLiteStore.renewLeases`.
    public func renewLeasesAfterRestart() throws(StoreError) -> Int {
        try store.renewLeases(expires: clock() + configuration.leaseSeconds)
    }

    // MARK: Memory banks

    /// A task's bank: stored entries, units and plan, read here once per process (the bank's
    /// own actor rebuilds it from them, outside this one).
    func bankSeed(task id: Int64) throws(StoreError) -> BankSeed {
        guard let task = try store.task(id: id) else { throw .unknownTask(id) }
        let plan = try plan(job: task.job)
        return BankSeed(task: task, plan: plan, units: try store.unitSpans(task: id),
                        stored: try store.bankEntries(task: id, job: task.job, model: plan.model?.featureKey))
    }

    /// Whether a task exists (a bank actor is made only for one that does).
    func hasTask(_ id: Int64) throws(StoreError) -> Bool { try store.task(id: id) != nil }

    /// The image references at a task's stream positions: from the leases' lookups when they
    /// are all known, else from the database.
    private func imageRefs(task: Int64, job: Int64, positions: [Int]) throws(StoreError) -> [String?] {
        if let known = leasedRefs.refs(task: task, positions: positions) { return known }
        return try store.refs(task: task, job: job, positions: positions)
    }

    /// Tells a task's bank that a unit will push nothing more, so its frontier moves past it.
    /// Awaited by the caller (no detached task), so the frontier has moved when `complete` or
    /// `fail` returns and nothing outlives a dropped coordinator. Called last, after the store's
    /// state changed: the actor may interleave other calls while it waits on the bank.
    private func unitFinished(task: Int64, firstSample: Int) async {
        await banks.existing(task: task)?.finished(unitStartingAt: firstSample)
    }

    // MARK: Status and results

    // Reads below go through `read`: a read-only connection of their own, not the actor.

    public nonisolated func status(job name: String) async throws(StoreError) -> JobStatus {
        let now = clock(), expired = expiredLeases
        return try await read { r throws(StoreError) in try r.status(job: name, now: now, expiredLeases: expired) }
    }

    public nonisolated func results(task: Int64) async throws(StoreError) -> [ResultRecord] {
        try await read { r throws(StoreError) in try r.results(task: task) }
    }

    /// A task's stream order (set, item, label per position): for re-scoring sequentially.
    public nonisolated func stream(task: Int64) async throws(StoreError) -> (sets: [Int], items: [Int], labels: [Int]) {
        try await read { r throws(StoreError) in try r.stream(task: task) }
    }

    public nonisolated func tasks(job: Int64) async throws(StoreError) -> [TaskRecord] {
        try await read { r throws(StoreError) in try r.tasks(job: job) }
    }

    public nonisolated func units(task: Int64) async throws(StoreError) -> [UnitRecord] {
        try await read { r throws(StoreError) in try r.units(task: task) }
    }

    /// A task's stored features in stream order (`StoreReader.streamFeatures`).
    public nonisolated func streamFeatures(task id: Int64) async throws(StoreError) -> StreamFeatures {
        try await read { r throws(StoreError) in try r.streamFeatures(task: id) }
    }

    /// Runs a read on a read-only connection (`StoreReaders`), so GET routes and `/metrics`
    /// never queue behind leases, completions or planning on the actor; an in-memory database
    /// is read through the writer, on the actor.
    nonisolated func read<T: Sendable>(_ body: @Sendable (StoreReader) throws(StoreError) -> T) async throws(StoreError) -> T {
        if let readers { return try readers.read(body) }
        return try await readOnWriter(body)
    }

    private func readOnWriter<T: Sendable>(_ body: @Sendable (StoreReader) throws(StoreError) -> T) throws(StoreError) -> T {
        try body(store)
    }

    public func integrityCheck() throws(StoreError) -> String {
        try store.integrityCheck()
    }
}
