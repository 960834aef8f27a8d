import AdaNegCore
import Foundation

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
    /// Image jobs: per sample, the resolved image URL (nil for samples of feature sets).
    public var refs: [String?]?
    /// Per sample, the feature the coordinator holds: for images, what it stored under the
    /// job's model (embedded for another task or an earlier job), so they are not embedded
    /// again; for samples of feature sets, the feature file's row, normalised, so a worker
    /// needs no copy of the file (a row missing here is read from the worker's own copy).
    public var stored: StoredFeatures?

    public init(unit: Int64, task: Int64, job: Int64, firstSample: Int, sets: [Int], items: [Int], labels: [Int], leaseSeconds: Double, attempt: Int,
                refs: [String?]? = nil, stored: StoredFeatures? = nil) {
        self.unit = unit
        self.task = task
        self.job = job
        self.firstSample = firstSample
        self.sets = sets
        self.items = items
        self.labels = labels
        self.leaseSeconds = leaseSeconds
        self.attempt = attempt
        self.refs = refs
        self.stored = stored
    }

    public var count: Int { sets.count }
}

/// Per-sample image features in one binary block (base64 in JSON, never arrays of numbers):
/// a sample has a feature row, an error (its image could not be read), or neither.
public struct StoredFeatures: Codable, Sendable, Equatable {
    public var dimension: Int
    /// Per sample: index of its row in `vectors`, or nil.
    public var rows: [Int?]
    /// Per sample: why it has no feature, or nil.
    public var errors: [String?]
    /// Little-endian float32 rows, `dimension` values each.
    public var vectors: Data

    public init(dimension: Int, rows: [Int?], errors: [String?], vectors: Data) {
        self.dimension = dimension
        self.rows = rows
        self.errors = errors
        self.vectors = vectors
    }

    /// Packs per-sample features (nil: none) and errors.
    public init(dimension: Int, features: [[Float]?], errors: [String?]) {
        self.dimension = dimension
        self.errors = errors
        var rows = [Int?]()
        var bytes = [Float]()
        var next = 0
        for f in features {
            if let f, f.count == dimension {
                rows.append(next)
                bytes.append(contentsOf: f)
                next += 1
            } else {
                rows.append(nil)
            }
        }
        self.rows = rows
        vectors = bytes.withUnsafeBytes { Data($0) }
    }

    public var count: Int { rows.count }

    /// The feature of sample `i`, if it has one and the block is well-formed.
    public func feature(_ i: Int) -> [Float]? {
        guard i < rows.count, let r = rows[i], dimension > 0 else { return nil }
        let start = r * dimension * 4, end = start + dimension * 4
        guard r >= 0, end <= vectors.count else { return nil }
        return vectors[vectors.startIndex + start ..< vectors.startIndex + end].withUnsafeBytes { raw in
            (0..<dimension).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
    }

    /// Shape checks for data from the network.
    public var problem: String? {
        if errors.count != rows.count { return "\(rows.count) rows but \(errors.count) errors" }
        let used = rows.compactMap { $0 }
        // Checked: `dimension` comes from the client and is compared with the plan only later.
        guard dimension >= 0, let bytes = MemoryEstimate.product(used.count, dimension, 4) else {
            return "dimension \(dimension) × \(used.count) rows is out of range"
        }
        if vectors.count != bytes { return "\(vectors.count) bytes of vectors for \(used.count) rows of \(dimension) floats" }
        if used.contains(where: { $0 < 0 || $0 >= used.count }) { return "row index out of range" }
        // A stored NaN would poison every later re-scoring and bank load of the image.
        let finite = vectors.withUnsafeBytes { raw in
            (0..<raw.count / 4).allSatisfy { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self).isFinite }
        }
        if !finite { return "a feature has non-finite values" }
        return nil
    }
}

/// `POST /v1/leases` response: a unit, or nothing to do (and whether the work is all done).
public struct LeaseResponse: Codable, Sendable {
    public var grant: LeaseGrant?
    /// True when no unit is pending or leased: workers may exit.
    public var finished: Bool
    /// Backpressure: no grant now because the coordinator is busy; ask again after this many
    /// seconds (`LeaseAdmission`). Absent otherwise.
    public var retryAfter: Double?

    public init(grant: LeaseGrant?, finished: Bool, retryAfter: Double? = nil) {
        self.grant = grant
        self.finished = finished
        self.retryAfter = retryAfter
    }

    /// The most a worker waits on a `retryAfter`, whatever a reply says.
    public static let longestRetry = 30.0

    /// How long a worker without a grant waits before asking again: the coordinator's
    /// `retryAfter` when it sent one (clamped to 0...`longestRetry`), else `idlePoll`.
    public func wait(idlePoll: Double) -> Double {
        guard let retryAfter, retryAfter.isFinite else { return idlePoll }
        return min(max(retryAfter, 0), Self.longestRetry)
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
    /// MCM's and NegLabel's prediction (argmax of the ID logits); absent from older workers,
    /// whose results then report AdaNeg's prediction for every method's ACC.
    public var predStatic: [Int]?

    public init(pred: [Int] = [], conf: [Float] = [], confVanilla: [Float] = [], mcm: [Float] = [], adaptive: [Float] = [], errors: [String?] = [],
                predStatic: [Int]? = nil) {
        self.pred = pred
        self.conf = conf
        self.confVanilla = confVanilla
        self.mcm = mcm
        self.adaptive = adaptive
        self.errors = errors
        self.predStatic = predStatic
    }

    /// The wire form of per-sample results. A failed sample's score columns hold zeros that
    /// nothing reads: `errors` says it failed.
    public init(_ samples: [SampleResult]) {
        self.init(predStatic: [])
        pred.reserveCapacity(samples.count)
        for sample in samples {
            let s: SampleScore
            switch sample {
            case let .scored(score):
                s = score
                errors.append(nil)
            case let .failed(message):
                s = SampleScore(pred: 0, conf: 0, confVanilla: 0, mcm: 0, adaptive: 0)
                errors.append(message)
            }
            pred.append(s.pred); predStatic?.append(s.predStatic); conf.append(s.conf); confVanilla.append(s.confVanilla)
            mcm.append(s.mcm); adaptive.append(s.adaptive)
        }
    }

    /// The per-sample results (check `isConsistent` first). Results of older workers, without
    /// `predStatic`, get AdaNeg's prediction as the static one.
    public var samples: [SampleResult] {
        (0..<count).map { i in
            if let error = errors[i] { return .failed(error) }
            return .scored(SampleScore(pred: pred[i], conf: conf[i], confVanilla: confVanilla[i], mcm: mcm[i], adaptive: adaptive[i],
                                       predStatic: predStatic?[i]))
        }
    }

    public var count: Int { pred.count }

    public var isConsistent: Bool {
        [conf.count, confVanilla.count, mcm.count, adaptive.count, errors.count, predStatic?.count ?? pred.count].allSatisfy { $0 == pred.count }
    }
}

/// The wire form of the columns (`WireColumns`): each numeric column is one base64 block of
/// little-endian 32-bit values (`pred`/`predStatic` int32, scores float32), not a JSON array of
/// numbers; a JSON array is still read. `errors` stays a JSON array.
extension UnitResults {
    enum CodingKeys: String, CodingKey {
        case pred, conf, confVanilla, mcm, adaptive, errors, predStatic
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pred = try WireColumns.ints(c, .pred, prefix: "results")
        conf = try WireColumns.floats(c, .conf, prefix: "results")
        confVanilla = try WireColumns.floats(c, .confVanilla, prefix: "results")
        mcm = try WireColumns.floats(c, .mcm, prefix: "results")
        adaptive = try WireColumns.floats(c, .adaptive, prefix: "results")
        errors = try WireColumns.optionalStrings(c, .errors)
        predStatic = try !c.contains(.predStatic) || c.decodeNil(forKey: .predStatic) ? nil : WireColumns.ints(c, .predStatic, prefix: "results")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try WireColumns.encode(ints: pred, &c, .pred)
        try WireColumns.encode(floats: conf, &c, .conf)
        try WireColumns.encode(floats: confVanilla, &c, .confVanilla)
        try WireColumns.encode(floats: mcm, &c, .mcm)
        try WireColumns.encode(floats: adaptive, &c, .adaptive)
        try WireColumns.encode(optionalStrings: errors, &c, .errors)
        if let predStatic { try WireColumns.encode(ints: predStatic, &c, .predStatic) }
    }
}

/// `sets`, `items` and `labels` travel as `WireColumns` blocks (int32); a JSON array is read too.
extension LeaseGrant {
    enum CodingKeys: String, CodingKey {
        case unit, task, job, firstSample, sets, items, labels, leaseSeconds, attempt, refs, stored
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        unit = try c.decode(Int64.self, forKey: .unit)
        task = try c.decode(Int64.self, forKey: .task)
        job = try c.decode(Int64.self, forKey: .job)
        firstSample = try c.decode(Int.self, forKey: .firstSample)
        sets = try WireColumns.ints(c, .sets, prefix: "grant")
        items = try WireColumns.ints(c, .items, prefix: "grant")
        labels = try WireColumns.ints(c, .labels, prefix: "grant")
        leaseSeconds = try c.decode(Double.self, forKey: .leaseSeconds)
        attempt = try c.decode(Int.self, forKey: .attempt)
        refs = try c.decodeIfPresent([String?].self, forKey: .refs)
        stored = try c.decodeIfPresent(StoredFeatures.self, forKey: .stored)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(unit, forKey: .unit)
        try c.encode(task, forKey: .task)
        try c.encode(job, forKey: .job)
        try c.encode(firstSample, forKey: .firstSample)
        try WireColumns.encode(ints: sets, &c, .sets)
        try WireColumns.encode(ints: items, &c, .items)
        try WireColumns.encode(ints: labels, &c, .labels)
        try c.encode(leaseSeconds, forKey: .leaseSeconds)
        try c.encode(attempt, forKey: .attempt)
        try c.encodeIfPresent(refs, forKey: .refs)
        try c.encodeIfPresent(stored, forKey: .stored)
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
    /// The worker's bank replica at the end of the unit (for the report's bank-fill curve).
    public var bank: BankOccupancy?
    /// Image jobs: features (and per-image errors) the worker computed for this unit, stored
    /// per image and model so no other task or job embeds them again.
    public var features: StoredFeatures?

    public init(worker: String, attempt: Int, results: UnitResults, computeSeconds: Double, waitSeconds: Double,
                bank: BankOccupancy? = nil, features: StoredFeatures? = nil) {
        self.worker = worker
        self.attempt = attempt
        self.results = results
        self.computeSeconds = computeSeconds
        self.waitSeconds = waitSeconds
        self.bank = bank
        self.features = features
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

/// `POST /v1/jobs/{name}/cancel` response: the units dropped (0 when the job was already
/// cancelled or finished).
public struct CancelResponse: Codable, Sendable, Equatable {
    public var job: Int64
    public var name: String
    public var droppedUnits: Int

    public init(job: Int64, name: String, droppedUnits: Int) {
        self.job = job
        self.name = name
        self.droppedUnits = droppedUnits
    }
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

    public init(
        job: Int64,
        name: String,
        tasks: Int,
        units: Int,
        samples: Int,
        created: Bool
    ) {
        self.job = job
        self.name = name
        self.tasks = tasks
        self.units = units
        self.samples = samples
        self.created = created
    }
}

/// `GET /v1/jobs/{name}/results?task=ID`.
public struct TaskResults: Codable, Sendable {
    public var task: Int64
    public var results: [ResultRecord]

    public init(task: Int64, results: [ResultRecord]) {
        self.task = task
        self.results = results
    }
}
