import Foundation

/// `GET /v1/jobs/{name}/progress` and `adaneg status`: how far a job is, how fast it goes, and
/// who works on it. Separate from `JobStatus` (the report's source) because it is computed from
/// the units' completion records, which change on every completion and are cheap to query.
public struct JobProgress: Codable, Sendable, Equatable {
    public var job: String
    /// The coordinator's clock when the progress was read (ages are relative to it).
    public var now: Double
    public var units: UnitCounts
    public var samples: Int
    /// Result rows stored (errored samples included).
    public var results: Int
    public var errored: Int
    /// Samples of units still pending or leased: what the ETA covers (failed units are parked).
    public var remainingSamples: Int
    /// Recent throughput over the whole job; nil before there is enough to measure.
    public var throughput: Throughput?
    /// Seconds until the pending and leased units are done at the recent throughput; 0 when
    /// nothing is left, nil when unknown.
    public var etaSeconds: Double?
    public var tasks: [TaskProgress]
    public var workers: [WorkerProgress]
    public var failed: [FailedUnit]
    /// Leases that expired since the coordinator started (all jobs).
    public var expiredLeases: Int

    public struct Throughput: Codable, Sendable, Equatable {
        public var samplesPerSecond: Double
        /// Completions the rate was measured over, and the time they span.
        public var units: Int
        public var seconds: Double
        /// How it was measured: `completions` (time between recent completions) or `busy`
        /// (one completion's compute and wait time, when there is only one).
        public var basis: String
    }

    public struct TaskProgress: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var group: String?
        public var samples: Int
        public var results: Int
        public var units: UnitCounts
        public var bankVersion: Int64
    }

    /// A worker known to the coordinator, with its part in this job.
    public struct WorkerProgress: Codable, Sendable, Equatable {
        public var id: String
        public var host: String
        /// Last lease request or heartbeat, and its age at `now`.
        public var lastSeen: Double
        public var heartbeatAge: Double
        /// Units of this job the worker holds now.
        public var leased: Int
        /// Units and samples of this job it completed (with completion records).
        public var unitsDone: Int
        public var samplesDone: Int
        public var computeSeconds: Double
        /// Samples per second of compute on this job's units; nil without compute time.
        public var samplesPerComputeSecond: Double?
    }
}

/// One completed unit as the throughput estimate sees it.
public struct CompletionSample: Sendable, Equatable {
    public var completedAt: Double
    public var samples: Int
    /// Compute plus wait time of the unit on its worker, when recorded.
    public var busySeconds: Double?

    public init(completedAt: Double, samples: Int, busySeconds: Double?) {
        self.completedAt = completedAt
        self.samples = samples
        self.busySeconds = busySeconds
    }
}

extension JobProgress.Throughput {
    /// The throughput over recent completions (`recent`, any order; the caller passes the last
    /// few): the samples completed after the earliest one, divided by the time from the earliest
    /// to the latest. The earliest only marks the start: its samples were scored before it. With
    /// one completion (or all at one instant), its own busy time is the only measure.
    public static func estimate(_ recent: [CompletionSample]) -> Self? {
        let sorted = recent.sorted { $0.completedAt < $1.completedAt }
        guard let first = sorted.first, let last = sorted.last else { return nil }
        let span = last.completedAt - first.completedAt
        if sorted.count >= 2, span > 0 {
            let samples = sorted.dropFirst().reduce(0) { $0 + $1.samples }
            return .init(samplesPerSecond: Double(samples) / span, units: sorted.count - 1, seconds: span, basis: "completions")
        }
        let busy = sorted.compactMap(\.busySeconds).reduce(0, +)
        guard busy > 0, sorted.allSatisfy({ $0.busySeconds != nil }) else { return nil }
        let samples = sorted.reduce(0) { $0 + $1.samples }
        return .init(samplesPerSecond: Double(samples) / busy, units: sorted.count, seconds: busy, basis: "busy")
    }
}

/// Whole-coordinator counts for `/metrics`.
public struct CoordinatorTotals: Sendable, Equatable {
    public var units: UnitCounts
    public var results: Int
    public var errored: Int
    public var expiredLeases: Int
}

extension Coordinator {
    /// Completions the throughput is measured over: enough to smooth unit-size jitter, few
    /// enough to follow a change in the worker count.
    public static let throughputWindow = 20

    public func progress(job name: String) throws(StoreError) -> JobProgress {
        let jobID = try job(named: name).id
        let status = try status(job: name)
        let db = store.db
        let job: [SQLValue] = [.int(jobID)]

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
        try last.bind(job + [.int(Int64(Self.throughputWindow))])
        while try last.step() {
            let busy: Double? = last.isNull(4) ? nil : last.double(2) + last.double(3)
            recent.append(CompletionSample(completedAt: last.double(0), samples: Int(last.int(1)), busySeconds: busy))
        }
        let throughput = JobProgress.Throughput.estimate(recent)
        let eta: Double? = remaining == 0 ? 0 : throughput.map { Double(remaining) / $0.samplesPerSecond }

        return JobProgress(
            job: status.job, now: status.now, units: status.units, samples: status.samples, results: status.results,
            errored: errored, remainingSamples: remaining, throughput: throughput, etaSeconds: eta,
            tasks: status.tasks.map { t in
                JobProgress.TaskProgress(id: t.id, name: t.oodName, group: t.oodGroup, samples: t.sampleCount,
                                         results: resultsPerTask[t.id] ?? 0, units: perTask[t.id] ?? UnitCounts(), bankVersion: t.bankVersion)
            },
            workers: try workerProgress(job: jobID, known: status.workers, now: status.now),
            failed: status.failed, expiredLeases: status.expiredLeases)
    }

    /// Every worker the coordinator knows (workers serve any job: an idle one may take this
    /// job's next unit), with what it holds and has done for this job.
    private func workerProgress(job: Int64, known: [WorkerRecord], now: Double) throws(StoreError) -> [JobProgress.WorkerProgress] {
        let db = store.db
        var leased = [String: Int]()
        let leases = try db.prepare("SELECT u.lease_owner, count(*) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state = 'leased' AND u.lease_owner IS NOT NULL GROUP BY u.lease_owner")
        try leases.bind([.int(job)])
        while try leases.step() { if let w = leases.text(0) { leased[w] = Int(leases.int(1)) } }
        var done = [String: (units: Int, samples: Int, compute: Double)]()
        let completed = try db.prepare("SELECT u.completed_by, count(*), sum(u.sample_count), sum(u.compute_seconds) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state = 'done' AND u.completed_by IS NOT NULL GROUP BY u.completed_by")
        try completed.bind([.int(job)])
        while try completed.step() { if let w = completed.text(0) { done[w] = (Int(completed.int(1)), Int(completed.int(2)), completed.double(3)) } }
        return known.map { w in
            let d = done[w.id]
            return JobProgress.WorkerProgress(
                id: w.id, host: w.host, lastSeen: w.lastSeen, heartbeatAge: max(0, now - w.lastSeen), leased: leased[w.id] ?? 0,
                unitsDone: d?.units ?? 0, samplesDone: d?.samples ?? 0, computeSeconds: d?.compute ?? 0,
                samplesPerComputeSecond: d.flatMap { $0.compute > 0 ? Double($0.samples) / $0.compute : nil })
        }
    }

    /// Counts over every job, read when `/metrics` is scraped.
    public func totals() throws(StoreError) -> CoordinatorTotals {
        CoordinatorTotals(
            units: try store.unitCounts(job: nil),
            results: Int(try store.db.scalar("SELECT count(*) FROM results") ?? 0),
            errored: Int(try store.db.scalar("SELECT count(*) FROM results WHERE error IS NOT NULL") ?? 0),
            expiredLeases: expiredLeases)
    }
}
