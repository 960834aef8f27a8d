import AdaNegCore

/// Rows of the coordinator's tables, as the store returns them.

public enum UnitState: String, Codable, Sendable, CaseIterable {
    case pending, leased, done, failed
    /// Dropped by `adaneg cancel` before it was done (its job's stored results are kept).
    case cancelled
}

public struct UnitRecord: Sendable, Equatable {
    public var id: Int64
    public var task: Int64
    public var firstSample: Int
    public var sampleCount: Int
    public var state: UnitState
    public var attempts: Int
    public var leaseOwner: String?
    public var leaseExpires: Double?
    public var lastError: String?
    public var completedAt: Double?
    /// Set when the unit is done (nil in databases from before schema version 2).
    public var completion: UnitCompletion?

    public init(id: Int64, task: Int64, firstSample: Int, sampleCount: Int, state: UnitState, attempts: Int, leaseOwner: String? = nil, leaseExpires: Double? = nil, lastError: String? = nil, completedAt: Double? = nil, completion: UnitCompletion? = nil) {
        self.id = id
        self.task = task
        self.firstSample = firstSample
        self.sampleCount = sampleCount
        self.state = state
        self.attempts = attempts
        self.leaseOwner = leaseOwner
        self.leaseExpires = leaseExpires
        self.lastError = lastError
        self.completedAt = completedAt
        self.completion = completion
    }
}

/// Who completed a unit, what it cost, and how full that worker's bank replica was at its end.
public struct UnitCompletion: Codable, Sendable, Equatable {
    public var worker: String
    public var computeSeconds: Double
    public var waitSeconds: Double
    public var bank: BankOccupancy?

    public init(worker: String, computeSeconds: Double, waitSeconds: Double, bank: BankOccupancy?) {
        self.worker = worker
        self.computeSeconds = computeSeconds
        self.waitSeconds = waitSeconds
        self.bank = bank
    }
}

public struct TaskRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var job: Int64
    public var oodIndex: Int
    public var oodName: String
    public var oodGroup: String?
    public var sampleCount: Int
    public var bankVersion: Int64

    public init(id: Int64, job: Int64, oodIndex: Int, oodName: String, oodGroup: String? = nil, sampleCount: Int, bankVersion: Int64) {
        self.id = id
        self.job = job
        self.oodIndex = oodIndex
        self.oodName = oodName
        self.oodGroup = oodGroup
        self.sampleCount = sampleCount
        self.bankVersion = bankVersion
    }
}

public struct JobRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var specYAML: String
    public var planJSON: String
    public var createdAt: Double

    public init(id: Int64, name: String, specYAML: String, planJSON: String, createdAt: Double) {
        self.id = id
        self.name = name
        self.specYAML = specYAML
        self.planJSON = planJSON
        self.createdAt = createdAt
    }
}

/// One stored result row, joined with its sample's label.
public struct ResultRecord: Codable, Sendable, Equatable {
    public var position: Int
    public var label: Int
    public var pred: Int?
    public var conf: Float?
    public var confVanilla: Float?
    public var mcm: Float?
    public var adaptive: Float?
    public var error: String?
    /// MCM's and NegLabel's own prediction (nil in results of older workers).
    public var predStatic: Int?

    public init(position: Int, label: Int, pred: Int? = nil, conf: Float? = nil, confVanilla: Float? = nil, mcm: Float? = nil, adaptive: Float? = nil, error: String? = nil, predStatic: Int? = nil) {
        self.position = position
        self.label = label
        self.pred = pred
        self.conf = conf
        self.confVanilla = confVanilla
        self.mcm = mcm
        self.adaptive = adaptive
        self.error = error
        self.predStatic = predStatic
    }

    /// The stored row as one result: scored, or failed with its error. A row without an error
    /// but without scores (never written by adaneg) counts as failed. Rows of older workers,
    /// without the static prediction, get AdaNeg's.
    public var outcome: SampleResult {
        if let error { return .failed(error) }
        guard let pred, let conf, let confVanilla, let mcm else { return .failed("no prediction stored") }
        return .scored(SampleScore(pred: pred, conf: conf, confVanilla: confVanilla, mcm: mcm, adaptive: adaptive ?? .nan,
                                   predStatic: predStatic))
    }
}

/// Unit counts by state.
public struct UnitCounts: Codable, Sendable, Equatable {
    public var pending = 0
    public var leased = 0
    public var done = 0
    public var failed = 0
    public var cancelled = 0

    public init() {}

    /// `cancelled` is optional on the wire: a coordinator from before `adaneg cancel` omits it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pending = try c.decode(Int.self, forKey: .pending)
        leased = try c.decode(Int.self, forKey: .leased)
        done = try c.decode(Int.self, forKey: .done)
        failed = try c.decode(Int.self, forKey: .failed)
        cancelled = try c.decodeIfPresent(Int.self, forKey: .cancelled) ?? 0
    }

    public var total: Int { pending + leased + done + failed + cancelled }

    /// The count of units in `state`.
    public subscript(state: UnitState) -> Int {
        get {
            switch state {
            case .pending: pending
            case .leased: leased
            case .done: done
            case .failed: failed
            case .cancelled: cancelled
            }
        }
        set {
            switch state {
            case .pending: pending = newValue
            case .leased: leased = newValue
            case .done: done = newValue
            case .failed: failed = newValue
            case .cancelled: cancelled = newValue
            }
        }
    }
    /// Nothing left to lease or wait for.
    public var isFinished: Bool { pending == 0 && leased == 0 }
}

public struct WorkerRecord: Codable, Sendable, Equatable {
    public var id: String
    public var host: String
    public var lastSeen: Double
    public var unitsDone: Int
    public var samplesDone: Int

    public init(id: String, host: String, lastSeen: Double, unitsDone: Int, samplesDone: Int) {
        self.id = id
        self.host = host
        self.lastSeen = lastSeen
        self.unitsDone = unitsDone
        self.samplesDone = samplesDone
    }
}
