import Foundation

/// `GET /v1/jobs/{name}/progress` and `adaneg status`: how far a job is, how fast it goes, and
/// who works on it. Separate from `JobStatus` (the report's source) because it is computed from
/// the units' completion records, which change on every completion and are cheap to query.
public struct JobProgress: Codable, Sendable, Equatable {
    /// Completions the throughput is measured over: enough to smooth unit-size jitter, few
    /// enough to follow a change in the worker count.
    public static let throughputWindow = 20

    public var job: String
    /// The coordinator's clock when the progress was read (ages are relative to it).
    public var now: Double
    public var units: UnitCounts
    /// The job's state from its units when the progress was read (running, complete, finished
    /// with failures, failed), so a script reading `status --json` tells a failed job from an
    /// unfinished one. Optional: an older coordinator does not send it.
    public var state: JobState?
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
    /// When the job was submitted, and when its last unit ended (nil while units are pending or
    /// leased): the elapsed time. Optional: an older coordinator does not send them.
    public var startedAt: Double?
    public var finishedAt: Double?
    /// The lease period a worker is judged by: one that has not been seen for longer is gone.
    public var leaseSeconds: Double?
    /// The name of the token that submitted the job (nil without tokens, or before names were
    /// recorded), and when it was cancelled (nil if it was not).
    public var submittedBy: String?
    public var cancelledAt: Double?

    /// Seconds from submission to the end of the last unit, or to `now` while work remains.
    public var elapsedSeconds: Double? {
        guard let startedAt else { return nil }
        return max(0, (finishedAt ?? now) - startedAt)
    }

    public struct Throughput: Codable, Sendable, Equatable {
        public var samplesPerSecond: Double
        /// Completions the rate was measured over, and the time they span.
        public var units: Int
        public var seconds: Double
        /// How it was measured: `completions` (time between recent completions) or `busy`
        /// (one completion's compute and wait time, when there is only one).
        public var basis: String

        public init(
            samplesPerSecond: Double,
            units: Int,
            seconds: Double,
            basis: String
        ) {
            self.samplesPerSecond = samplesPerSecond
            self.units = units
            self.seconds = seconds
            self.basis = basis
        }
    }

    public struct TaskProgress: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var group: String?
        public var samples: Int
        public var results: Int
        public var units: UnitCounts
        public var bankVersion: Int64

        public init(
            id: Int64,
            name: String,
            group: String? = nil,
            samples: Int,
            results: Int,
            units: UnitCounts,
            bankVersion: Int64
        ) {
            self.id = id
            self.name = name
            self.group = group
            self.samples = samples
            self.results = results
            self.units = units
            self.bankVersion = bankVersion
        }
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
        /// Not seen for longer than a lease period: the worker has exited (or lost its link).
        /// Optional: an older coordinator does not send it.
        public var gone: Bool?

        public init(
            id: String,
            host: String,
            lastSeen: Double,
            heartbeatAge: Double,
            leased: Int,
            unitsDone: Int,
            samplesDone: Int,
            computeSeconds: Double,
            samplesPerComputeSecond: Double? = nil,
            gone: Bool? = nil
        ) {
            self.id = id
            self.host = host
            self.lastSeen = lastSeen
            self.heartbeatAge = heartbeatAge
            self.leased = leased
            self.unitsDone = unitsDone
            self.samplesDone = samplesDone
            self.computeSeconds = computeSeconds
            self.samplesPerComputeSecond = samplesPerComputeSecond
            self.gone = gone
        }
    }

    public init(
        job: String,
        now: Double,
        units: UnitCounts,
        samples: Int,
        results: Int,
        errored: Int,
        remainingSamples: Int,
        throughput: Throughput? = nil,
        etaSeconds: Double? = nil,
        tasks: [TaskProgress],
        workers: [WorkerProgress],
        failed: [FailedUnit],
        expiredLeases: Int,
        startedAt: Double? = nil,
        finishedAt: Double? = nil,
        leaseSeconds: Double? = nil,
        submittedBy: String? = nil,
        cancelledAt: Double? = nil
    ) {
        self.submittedBy = submittedBy
        self.cancelledAt = cancelledAt
        self.job = job
        self.now = now
        self.units = units
        self.state = units.state
        self.samples = samples
        self.results = results
        self.errored = errored
        self.remainingSamples = remainingSamples
        self.throughput = throughput
        self.etaSeconds = etaSeconds
        self.tasks = tasks
        self.workers = workers
        self.failed = failed
        self.expiredLeases = expiredLeases
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.leaseSeconds = leaseSeconds
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

    public init(
        units: UnitCounts,
        results: Int,
        errored: Int,
        expiredLeases: Int
    ) {
        self.units = units
        self.results = results
        self.errored = errored
        self.expiredLeases = expiredLeases
    }
}

/// `GET /v1/jobs/{name}`: progress of a job.
public struct JobStatus: Codable, Sendable {
    public var job: String
    public var units: UnitCounts
    public var samples: Int
    public var results: Int
    public var tasks: [TaskRecord]
    public var failed: [FailedUnit]
    public var workers: [WorkerRecord]
    public var expiredLeases: Int
    public var now: Double

    public init(job: String, units: UnitCounts, samples: Int, results: Int, tasks: [TaskRecord], failed: [FailedUnit],
                workers: [WorkerRecord], expiredLeases: Int, now: Double) {
        self.job = job
        self.units = units
        self.samples = samples
        self.results = results
        self.tasks = tasks
        self.failed = failed
        self.workers = workers
        self.expiredLeases = expiredLeases
        self.now = now
    }
}

public struct FailedUnit: Codable, Sendable, Equatable {
    public var unit: Int64
    public var task: Int64
    public var attempts: Int
    public var error: String

    public init(unit: Int64, task: Int64, attempts: Int, error: String) {
        self.unit = unit
        self.task = task
        self.attempts = attempts
        self.error = error
    }
}
