import AdaNegCore
import Crypto
import Foundation
import JobProtocol
import JobSpec
import JobStore
import Platform

/// Why a sweep request is refused: `invalid` names the field (400), `noFeatures` says why the
/// job has no final stored features to sweep over (409: dropped, or the job still running),
/// `unknown` an id no sweep has (404). Nothing is stored.
public enum SweepRefusal: Error, Sendable, CustomStringConvertible {
    case invalid(String)
    case noFeatures(String)
    case unknown(String)

    public var description: String {
        switch self {
        case let .invalid(text), let .noFeatures(text): text
        case let .unknown(id): "no sweep with id '\(id.prefix(80))'"
        }
    }
}

/// Fleet sweeps (`sweep --coordinator`): a grid over a job's stored features, split into units
/// of (task, chunk of points) that workers lease when no job unit is waiting. Results land in
/// `sweep_sets`; the job's own rows are never changed.
extension Coordinator {
    /// The most points a unit holds. A unit's points share each batch's static half (as in
    /// `sweep --db`), so more points a unit cost less per point, but a unit is one worker's
    /// work for its whole task, and each point holds a bank replica in that worker's memory:
    /// 8 keeps a grid of 48 over 5 tasks at 30 units (enough for a fleet to share) and a unit
    /// of ImageNet's largest task within a couple of GB.
    static let sweepPointsPerUnit = 8

    /// The largest grid a coordinator plans: a request may not make it expand and store an
    /// unbounded list of points (a grid this large is better split, or run with `sweep --db`).
    static let sweepMaxPoints = 100_000

    /// Plans a grid once: the same job and points give the same sweep (its id), so submitting
    /// it again answers its progress and stores no new unit (its failed units, if any, are
    /// tried again). Point-tasks already stored (by an earlier sweep, fleet or local) get no unit.
    public func submitSweep(_ request: SweepRequest) throws -> SweepStatus {
        guard !request.sets.isEmpty else {
            throw SweepRefusal.invalid("sets: give at least one NAME=V1,V2,… (NAME one of \(ScoringParameter.allCases.map(\.key).joined(separator: ", ")))")
        }
        let maxPoints = request.maxPoints ?? SweepGrid.defaultMaxPoints
        guard maxPoints >= 1 else { throw SweepRefusal.invalid("max_points must be at least 1 (got \(maxPoints))") }
        guard maxPoints <= Self.sweepMaxPoints else {
            throw SweepRefusal.invalid("max_points \(maxPoints) is more than a coordinator plans (\(Self.sweepMaxPoints)): split the grid, or run it with `sweep --db`")
        }
        // The sets alone first, so a bad one is named before the job is looked up.
        do { _ = try SweepGrid(sets: request.sets, base: ScoringParameters(), maxPoints: maxPoints) } catch { throw SweepRefusal.invalid(error.description) }
        let job = try self.job(named: request.job)
        let plan = try plan(job: job.id)
        if let refusal = plan.sweepRefusal { throw SweepRefusal.noFeatures(refusal) }
        // A running job's stored features still grow: units scored at different times would see
        // different streams, so a fleet sweep waits for the job (`sweep --db` reads one snapshot).
        let counts = try store.unitCounts(job: job.id)
        guard counts.isFinished else {
            throw SweepRefusal.noFeatures("job '\(job.name)' is still running (\(counts.pending) units pending, \(counts.leased) leased): its stored features are not final, so a fleet sweep would score tasks over different samples; sweep it when it is done (or now with `sweep --db`, which reads one snapshot)")
        }
        let grid: SweepGrid
        do {
            grid = try SweepGrid(sets: request.sets, base: plan.scoring, maxPoints: maxPoints)
            try grid.checkAgainstJob(negatives: plan.labelCount - plan.numID)
        } catch {
            throw SweepRefusal.invalid(error.description)
        }
        var seen = Set<String>()
        let points = grid.points.filter { seen.insert($0.pointKey).inserted }
        let id = Self.sweepID(job: job.id, points: points)
        if try store.sweep(id: id) == nil {
            let tasks = try store.tasks(job: job.id)
            let finished = try store.sweepPoints(job: job.id)
            let stored = try store.sweepSets(job: job.id)
            var units = [(task: Int64, points: String, count: Int)]()
            for task in tasks {
                let todo = points.filter { finished[$0.pointKey] == nil && stored[$0.pointKey]?[task.id] == nil }
                for chunk in Self.sweepChunks(todo) { units.append((task.id, try Self.json(chunk), chunk.count)) }
            }
            _ = try store.createSweep(id: id, job: job.id, points: try Self.json(points), units: units, now: clock())
            logger.info("sweep submitted", metadata: ["job": "\(job.name.loggable)", "sweep": "\(id)", "points": "\(points.count)", "units": "\(units.count)"])
            return try sweepStatus(id: id, job: job, points: points.count, created: true)
        }
        // Submitted again: its failed units are tried again (their cause may be fixed now).
        let retried = try store.retryFailedSweepUnits(sweep: id)
        if retried > 0 { logger.info("sweep resubmitted: failed units tried again", metadata: ["sweep": "\(id)", "units": "\(retried)"]) }
        return try sweepStatus(id: id, job: job, points: points.count, created: false)
    }

    private func sweepStatus(id: String, job: JobRecord, points: Int, created: Bool) throws(StoreError) -> SweepStatus {
        let p = try store.sweepProgress(id: id)
        return SweepStatus(id: id, job: job.name, jobID: job.id, points: points, units: p.units, pointTasksDone: p.done,
                           pointTasks: p.total, failures: p.failures, created: created)
    }

    /// A sweep's progress, read outside the actor.
    public nonisolated func sweepStatus(id: String) async throws -> SweepStatus {
        let status = try await read { r throws(StoreError) -> SweepStatus? in
            guard let sweep = try r.sweep(id: id), let job = try r.job(id: sweep.job) else { return nil }
            let count = (try? JSONDecoder().decode([ScoringParameters].self, from: Data(sweep.points.utf8)).count) ?? 0
            let p = try r.sweepProgress(id: id)
            return SweepStatus(id: id, job: job.name, jobID: job.id, points: count, units: p.units, pointTasksDone: p.done,
                               pointTasks: p.total, failures: p.failures, created: false)
        }
        guard let status else { throw SweepRefusal.unknown(id) }
        return status
    }

    /// A sweep's stored rows, as read in one go.
    private struct StoredSweep: Sendable {
        var job: String
        var tasks: [Int64]
        var points: String
        var finished: [String: String]
        var sets: [String: [Int64: String]]
    }

    /// What is stored for a sweep's points: finished points (`sweep_points`) and the sets of
    /// point-tasks scored so far (`sweep_sets`), read outside the actor.
    public nonisolated func sweepResults(id: String) async throws -> SweepResults {
        let found = try await read { r throws(StoreError) -> StoredSweep? in
            guard let sweep = try r.sweep(id: id), let job = try r.job(id: sweep.job) else { return nil }
            return StoredSweep(job: job.name, tasks: try r.tasks(job: job.id).map(\.id), points: sweep.points,
                               finished: try r.sweepPoints(job: job.id), sets: try r.sweepSets(job: job.id))
        }
        guard let found else { throw SweepRefusal.unknown(id) }
        let points = try JSONDecoder().decode([ScoringParameters].self, from: Data(found.points.utf8))
        return SweepResults(id: id, job: found.job, tasks: found.tasks, points: points.map { p in
            let key = p.pointKey
            return SweepResults.StoredPoint(params: p, result: found.finished[key],
                                            sets: (found.sets[key] ?? [:]).sorted { $0.key < $1.key }.map { .init(task: $0.key, result: $0.value) })
        })
    }

    /// The next sweep unit for `worker`, or none.
    public func leaseSweep(worker: String, host: String) throws -> SweepLeaseResponse {
        let now = clock()
        let (leased, expired) = try store.leaseSweepUnit(worker: worker, now: now, expires: now + configuration.leaseSeconds,
                                                         maxAttempts: configuration.maxAttempts)
        if expired > 0 { logger.warning("sweep unit leases expired", metadata: ["count": "\(expired)"]) }
        guard let unit = leased else { return SweepLeaseResponse(grant: nil) }
        guard let task = try store.task(id: unit.task) else { throw StoreError.unknownTask(unit.task) }
        let points = try JSONDecoder().decode([ScoringParameters].self, from: Data(unit.points.utf8))
        return SweepLeaseResponse(grant: SweepGrant(unit: unit.id, sweep: unit.sweep, job: task.job, task: task, points: points,
                                                    attempt: unit.attempts, leaseSeconds: configuration.leaseSeconds))
    }

    public func heartbeatSweep(unit: Int64, worker: String, attempt: Int) throws(StoreError) -> Bool {
        try store.extendSweepLease(unit: unit, worker: worker, attempt: attempt, expires: clock() + configuration.leaseSeconds)
    }

    /// Stores a sweep unit's sets once: each must be a set of the unit's task, one for each of
    /// its points (400 naming what is wrong, nothing stored). False: a duplicate of a unit done.
    public func completeSweep(unit id: Int64, _ completion: SweepCompletion) throws -> Bool {
        guard let unit = try store.sweepUnit(id: id) else { throw StoreError.unknownUnit(id) }
        guard let task = try store.task(id: unit.task) else { throw StoreError.unknownTask(unit.task) }
        let points = try JSONDecoder().decode([ScoringParameters].self, from: Data(unit.points.utf8))
        let expected = Set(points.map(\.pointKey))
        var sets = [(point: String, result: String)]()
        for (i, set) in completion.sets.enumerated() {
            guard expected.contains(set.point) else {
                throw SweepRefusal.invalid("sets[\(i)].point: '\(set.point.prefix(200))' is not a point of sweep unit \(id)")
            }
            let report: SetReport
            do { report = try SweepStoredJSON.decode(SetReport.self, set.result) } catch {
                throw SweepRefusal.invalid("sets[\(i)].result: not a set report: \(error)")
            }
            guard report.task == unit.task else {
                throw SweepRefusal.invalid("sets[\(i)].result: a set of task \(report.task), but sweep unit \(id) is task \(unit.task)")
            }
            sets.append((set.point, set.result))
        }
        guard Set(sets.map(\.point)) == expected, sets.count == expected.count else {
            throw SweepRefusal.invalid("sets: sweep unit \(id) needs exactly one set for each of its \(expected.count) points, got \(sets.count)")
        }
        let stored = try store.completeSweepUnit(unit, job: task.job, worker: completion.worker, attempt: completion.attempt, sets: sets, now: clock())
        if !stored { logger.notice("duplicate sweep completion ignored", metadata: ["unit": "\(id)", "worker": "\(completion.worker.loggable)"]) }
        return stored
    }

    public func failSweep(unit: Int64, worker: String, attempt: Int, error: String) throws(StoreError) -> UnitState? {
        let state = try store.failSweepUnit(unit, worker: worker, attempt: attempt, error: error, maxAttempts: configuration.maxAttempts)
        logger.warning("sweep unit failed", metadata: ["unit": "\(unit)", "worker": "\(worker.loggable)", "error": "\(error.loggable)", "now": "\(state?.rawValue ?? "not held")"])
        return state
    }

    /// The task of a sweep unit `worker` holds under `attempt`, as its scorer reads it: rows
    /// with a feature, their labels, and how many samples have none.
    public nonisolated func sweepFeatures(unit id: Int64, worker: String, attempt: Int) async throws -> SweepFeatures {
        let unit = try await read { r throws(StoreError) in try r.sweepUnit(id: id) }
        guard let unit else { throw StoreError.unknownUnit(id) }
        guard unit.state == .leased, unit.leaseOwner == worker, unit.attempts == attempt else {
            throw StoreError.notLeaseHolder(unit: id, worker: worker)
        }
        let stream: StreamFeatures
        do {
            stream = try await streamFeatures(task: unit.task)
        } catch {
            // A feature file that changed since submission, or cannot be read: no worker can
            // score the unit, so it counts a failed attempt here (parked after the maximum)
            // instead of waiting out a lease per attempt. The holder gets the error (409/5xx).
            if case .inputChanged = error { _ = try await failSweep(unit: id, worker: worker, attempt: attempt, error: error.description) }
            throw error
        }
        return SweepFeatures(rows: stream.positions.count, dimension: stream.features.cols, positions: stream.positions, labels: stream.labels,
                             errored: stream.missing.count, features: stream.features.storage)
    }

    /// The sweep's id: a digest of the job and the grid's points (in order).
    static func sweepID(job: Int64, points: [ScoringParameters]) -> String {
        let text = "\(job)\n" + points.map(\.pointKey).joined(separator: "\n")
        return SHA256.hash(data: Data(text.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// Points in units: those sharing a batch size, groups and logit scale share each batch's
    /// static half, so they are kept together, at most `sweepPointsPerUnit` to a unit.
    static func sweepChunks(_ points: [ScoringParameters]) -> [[ScoringParameters]] {
        var groups = [String: [ScoringParameters]](), order = [String]()
        for p in points {
            let key = "\(p.batchSize) \(p.groups) \(p.logitScale)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(p)
        }
        return order.flatMap { key -> [[ScoringParameters]] in
            let g = groups[key]!
            return stride(from: 0, to: g.count, by: sweepPointsPerUnit).map { Array(g[$0 ..< min($0 + sweepPointsPerUnit, g.count)]) }
        }
    }

    static func json(_ points: [ScoringParameters]) throws -> String {
        String(decoding: try JSONEncoder().encode(points), as: UTF8.self)
    }
}
