/// JSON bodies of the coordinator's HTTP API (see `openapi.yaml`).

/// `POST /v1/leases` request.
public struct LeaseRequest: Codable, Sendable {
    public var worker: String
    public var host: String

    public init(worker: String, host: String) {
        self.worker = worker
        self.host = host
    }
}

/// A leased unit: a consecutive slice of one task's stream.
public struct LeaseGrant: Codable, Sendable, Equatable {
    public var unit: Int64
    public var task: Int64
    public var job: Int64
    public var firstSample: Int
    /// Per sample of the unit, in stream order: set index (0 = ID), item index, label.
    public var sets: [Int]
    public var items: [Int]
    public var labels: [Int]
    public var leaseSeconds: Double
    /// Which lease of this unit this is: completions must quote it, so a stale completion
    /// from an earlier lease of the same unit is refused.
    public var attempt: Int

    public init(unit: Int64, task: Int64, job: Int64, firstSample: Int, sets: [Int], items: [Int], labels: [Int], leaseSeconds: Double, attempt: Int) {
        self.unit = unit
        self.task = task
        self.job = job
        self.firstSample = firstSample
        self.sets = sets
        self.items = items
        self.labels = labels
        self.leaseSeconds = leaseSeconds
        self.attempt = attempt
    }

    public var count: Int { sets.count }
}

/// `POST /v1/leases` response: a unit, or nothing to do (and whether the work is all done).
public struct LeaseResponse: Codable, Sendable {
    public var grant: LeaseGrant?
    /// True when no unit is pending or leased: workers may exit.
    public var finished: Bool

    public init(grant: LeaseGrant?, finished: Bool) {
        self.grant = grant
        self.finished = finished
    }
}

/// `POST /v1/units/{id}/heartbeat` and `/fail` requests.
public struct UnitRequest: Codable, Sendable {
    public var worker: String
    public var error: String?

    public init(worker: String, error: String? = nil) {
        self.worker = worker
        self.error = error
    }
}

/// Per-sample results of a unit, column-wise, in stream order.
public struct UnitResults: Codable, Sendable, Equatable {
    public var pred: [Int]
    public var conf: [Float]
    public var confVanilla: [Float]
    public var mcm: [Float]
    public var adaptive: [Float]
    /// A per-sample error (unreadable image); its scores are ignored.
    public var errors: [String?]

    public init(pred: [Int] = [], conf: [Float] = [], confVanilla: [Float] = [], mcm: [Float] = [], adaptive: [Float] = [], errors: [String?] = []) {
        self.pred = pred
        self.conf = conf
        self.confVanilla = confVanilla
        self.mcm = mcm
        self.adaptive = adaptive
        self.errors = errors
    }

    public var count: Int { pred.count }

    public var isConsistent: Bool {
        [conf.count, confVanilla.count, mcm.count, adaptive.count, errors.count].allSatisfy { $0 == pred.count }
    }
}

/// `POST /v1/units/{id}/complete` request.
public struct CompletionRequest: Codable, Sendable {
    public var worker: String
    /// The `attempt` of the lease these results were computed under.
    public var attempt: Int
    public var results: UnitResults
    /// Seconds the worker spent computing and waiting on the coordinator for this unit.
    public var computeSeconds: Double
    public var waitSeconds: Double

    public init(worker: String, attempt: Int, results: UnitResults, computeSeconds: Double, waitSeconds: Double) {
        self.worker = worker
        self.attempt = attempt
        self.results = results
        self.computeSeconds = computeSeconds
        self.waitSeconds = waitSeconds
    }
}

/// What the coordinator did with a completion.
public enum CompletionOutcome: String, Codable, Sendable {
    /// Results stored; the unit is done.
    case accepted
    /// The unit was already done: nothing changed (a late duplicate).
    case duplicate
}

public struct CompletionResponse: Codable, Sendable {
    public var outcome: CompletionOutcome

    public init(outcome: CompletionOutcome) { self.outcome = outcome }
}

/// `POST /v1/jobs` response.
public struct SubmitResponse: Codable, Sendable {
    public var job: Int64
    public var name: String
    public var tasks: Int
    public var units: Int
    public var samples: Int
    /// False when a job with the same name and spec already existed (resubmission resumes it).
    public var created: Bool
}
