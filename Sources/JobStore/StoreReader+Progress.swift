import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// What `status` and `/metrics` show, counted in SQL: units by task and state, results,
/// recent completions, per-worker shares.
extension StoreReader {
    /// A job's units, samples, results, failed units and the workers known, as of `now`.
    public func status(job name: String, now: Double, expiredLeases: Int) throws(StoreError) -> JobStatus {
        guard let job = try job(named: name) else { throw .unknownJob(name) }
        let tasks = try tasks(job: job.id)
        return JobStatus(
            job: job.name, units: try unitCounts(job: job.id), samples: tasks.reduce(0) { $0 + $1.sampleCount },
            results: try resultCount(job: job.id), tasks: tasks,
            failed: try failedUnits(job: job.id).map { FailedUnit(unit: $0.id, task: $0.task, attempts: $0.attempts, error: $0.lastError ?? "") },
            workers: try workers(job: job.id), expiredLeases: expiredLeases, now: now)
    }

    /// The workers of one job: those that hold or have completed its units (a database may
    /// hold other jobs, whose workers are not this job's), with their totals over all jobs.
    public func workers(job: Int64) throws(StoreError) -> [WorkerRecord] {
        let s = try db.prepare("""
            SELECT id, host, last_seen, units_done, samples_done FROM workers WHERE id IN (
              SELECT u.lease_owner FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ?1 AND u.state = 'leased'
              UNION SELECT u.completed_by FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ?1 AND u.state = 'done')
            ORDER BY id
            """)
        try s.bind([.int(job)])
        var out = [WorkerRecord]()
        while try s.step() {
            out.append(WorkerRecord(id: s.text(0) ?? "", host: s.text(1) ?? "", lastSeen: s.double(2), unitsDone: Int(s.int(3)), samplesDone: Int(s.int(4))))
        }
        return out
    }

    /// The lease period `status --db` judges workers by: the coordinator's default (a database
    /// does not record the period its server was started with).
    public static let defaultLeaseSeconds: Double = 60

    /// A job's progress as of `now`; `expiredLeases` is the coordinator's count since it
    /// started (0 for a reader of a database nobody serves). A worker not seen for longer than
    /// `leaseSeconds` is marked gone.
    public func progress(job name: String, now: Double, expiredLeases: Int,
                         leaseSeconds: Double = StoreReader.defaultLeaseSeconds) throws(StoreError) -> JobProgress {
        let status = try status(job: name, now: now, expiredLeases: expiredLeases)
        guard let record = try job(named: name) else { throw .unknownJob(name) }
        let jobID = record.id
        let job: [SQLValue] = [.int(jobID)]
        let owner = try ownership(job: jobID)

        // Units by task and state.
        var perTask = [Int64: UnitCounts]()
        let byState = try db.prepare("SELECT u.task_id, u.state, count(*) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? GROUP BY u.task_id, u.state")
        try byState.bind(job)
        while try byState.step() {
            if let state = UnitState(rawValue: byState.text(1) ?? "") { perTask[byState.int(0), default: UnitCounts()][state] = Int(byState.int(2)) }
        }
        var resultsPerTask = [Int64: Int]()
        let taskResults = try db.prepare("SELECT r.task_id, count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ? GROUP BY r.task_id")
        try taskResults.bind(job)
        while try taskResults.step() { resultsPerTask[taskResults.int(0)] = Int(taskResults.int(1)) }

        let errored = Int(try db.scalar("SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ? AND r.error IS NOT NULL", job) ?? 0)
        let remaining = Int(try db.scalar("SELECT coalesce(sum(u.sample_count), 0) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state IN ('pending', 'leased')", job) ?? 0)

        // The most recent completions, for the throughput.
        var recent = [CompletionSample]()
        let last = try db.prepare("""
            SELECT u.completed_at, u.sample_count, u.compute_seconds, u.wait_seconds, u.completed_by
            FROM units u JOIN tasks t ON t.id = u.task_id
            WHERE t.job_id = ? AND u.state = 'done' AND u.completed_at IS NOT NULL
            ORDER BY u.completed_at DESC LIMIT ?
            """)
        try last.bind(job + [.int(Int64(JobProgress.throughputWindow))])
        while try last.step() {
            let busy: Double? = last.isNull(4) ? nil : last.double(2) + last.double(3)
            recent.append(CompletionSample(completedAt: last.double(0), samples: Int(last.int(1)), busySeconds: busy))
        }
        let throughput = JobProgress.Throughput.estimate(recent)
        let eta: Double? = remaining == 0 ? 0 : throughput.map { Double(remaining) / $0.samplesPerSecond }
        // Finished: the time of the last completion (the newest of `recent`).
        let finished: Double? = remaining > 0 ? nil : recent.map(\.completedAt).max()

        return JobProgress(
            job: status.job, now: status.now, units: status.units, samples: status.samples, results: status.results,
            errored: errored, remainingSamples: remaining, throughput: throughput, etaSeconds: eta,
            tasks: status.tasks.map { t in
                JobProgress.TaskProgress(id: t.id, name: t.oodName, group: t.oodGroup, samples: t.sampleCount,
                                         results: resultsPerTask[t.id] ?? 0, units: perTask[t.id] ?? UnitCounts(), bankVersion: t.bankVersion)
            },
            workers: try workerProgress(job: jobID, known: status.workers, now: status.now, leaseSeconds: leaseSeconds),
            failed: status.failed, expiredLeases: status.expiredLeases,
            startedAt: record.createdAt, finishedAt: finished, leaseSeconds: leaseSeconds,
            submittedBy: owner.submittedBy, cancelledAt: owner.cancelledAt)
    }

    /// The workers that hold or have completed units of this job (another job's workers are
    /// not this job's business), with what they hold and have done for it; one not seen for
    /// longer than a lease period is gone.
    private func workerProgress(job: Int64, known: [WorkerRecord], now: Double, leaseSeconds: Double) throws(StoreError) -> [JobProgress.WorkerProgress] {
        var leased = [String: Int]()
        let leases = try db.prepare("SELECT u.lease_owner, count(*) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state = 'leased' AND u.lease_owner IS NOT NULL GROUP BY u.lease_owner")
        try leases.bind([.int(job)])
        while try leases.step() { if let w = leases.text(0) { leased[w] = Int(leases.int(1)) } }
        var done = [String: (units: Int, samples: Int, compute: Double)]()
        let completed = try db.prepare("SELECT u.completed_by, count(*), sum(u.sample_count), sum(u.compute_seconds) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state = 'done' AND u.completed_by IS NOT NULL GROUP BY u.completed_by")
        try completed.bind([.int(job)])
        while try completed.step() { if let w = completed.text(0) { done[w] = (Int(completed.int(1)), Int(completed.int(2)), completed.double(3)) } }
        return known.filter { leased[$0.id] != nil || done[$0.id] != nil }.map { w in
            let d = done[w.id]
            let age = max(0, now - w.lastSeen)
            return JobProgress.WorkerProgress(
                id: w.id, host: w.host, lastSeen: w.lastSeen, heartbeatAge: age, leased: leased[w.id] ?? 0,
                unitsDone: d?.units ?? 0, samplesDone: d?.samples ?? 0, computeSeconds: d?.compute ?? 0,
                samplesPerComputeSecond: d.flatMap { $0.compute > 0 ? Double($0.samples) / $0.compute : nil },
                gone: age > leaseSeconds)
        }
    }

    /// Counts over every job, read when `/metrics` is scraped.
    public func totals(expiredLeases: Int) throws(StoreError) -> CoordinatorTotals {
        CoordinatorTotals(
            units: try unitCounts(job: nil),
            results: Int(try db.scalar("SELECT count(*) FROM results") ?? 0),
            errored: Int(try db.scalar("SELECT count(*) FROM results WHERE error IS NOT NULL") ?? 0),
            expiredLeases: expiredLeases)
    }
}
