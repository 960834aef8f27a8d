import AdaNeg
import JobPlan
import JobProtocol

/// A scoring method whose score is stored per sample.
public struct ReportMethod: Codable, Sendable, Equatable {
    /// Stable key in JSON and CSV: `mcm`, `neglabel`, `adaneg`.
    public var key: String
    /// Shown in tables: `MCM`, `NegLabel`, `AdaNeg (task)`.
    public var label: String
    /// Which stored column holds its score.
    public var column: String
}

/// The report of one job: what was run, how far it got, and the OOD metrics of every method
/// per OOD set, averaged over sets and per near/far group. Encodes to the JSON report
/// (`report.schema.json`).
public struct JobReport: Codable, Sendable {
    public static let formatVersion = 1

    public var reportVersion = JobReport.formatVersion
    public var job: JobInfo
    public var hyperparameters: ScoringParameters
    public var setup: Setup
    public var progress: Progress
    public var workerCount: Int
    public var workers: [WorkerRecord]
    public var methods: [ReportMethod]
    public var sets: [SetReport]
    /// Mean over the OOD sets, like the paper's "Average" column.
    public var average: Summary
    /// Means over the sets of each group (`near`, `far`), when the job tags them.
    public var groups: [Summary]
    public var failedUnits: [FailedUnit]
    public var sampleErrors: [SampleErrors]
    public var conventions: [String: String]
    /// Distributed vs sequential (`--compare-sequential`); null otherwise.
    public var comparison: SequentialComparison?

    public struct JobInfo: Codable, Sendable {
        public var name: String
        public var id: Int64
        public var createdAt: Double?
        public var source: String
        public var seed: UInt64?
        public var model: String?
        /// The image model's checksum (`WorkPlan.model`), which also keys the stored features:
        /// what a re-run must use. Null for a features job.
        public var modelChecksum: String?
        /// The precision the image features were computed in (`fp32`, `bf16`); null for a
        /// features job.
        public var precision: String?
        public var spec: String?
    }

    public struct Setup: Codable, Sendable {
        public var numID: Int
        public var labelCount: Int
        public var dimension: Int
        public var textFeatures: String
        public var permutation: String
        public var syncEvery: Int
        public var unitBatches: Int
        public var unitSize: Int
        public var keepFeatures: Bool
        /// Per set of the plan (index 0 = ID): name, group and sample count.
        public var inputs: [SetInput]
    }

    public struct SetInput: Codable, Sendable {
        public var name: String
        public var role: String
        public var group: String?
        public var count: Int
    }

    public struct Progress: Codable, Sendable {
        /// Some units are not done (pending, leased or failed) or some samples have no result.
        public var partial: Bool
        public var units: UnitCounts
        public var samples: Int
        public var results: Int
        public var errored: Int
        public var missing: Int
    }

    /// One OOD set's metrics: shared with the fleet's sweep workers, so it lives in JobProtocol.
    public typealias SetReport = JobProtocol.SetReport

    public struct Summary: Codable, Sendable {
        public var name: String
        public var sets: [String]
        /// By method key: the mean over `sets` that have metrics for the method.
        public var metrics: [String: OODMetrics]
        /// True when some set of the summary has no metrics or is partial.
        public var partial: Bool
    }

    public struct SampleErrors: Codable, Sendable {
        public var set: String
        public var message: String
        public var count: Int
        /// Up to 10 stream positions with this error.
        public var positions: [Int]
    }

    enum CodingKeys: String, CodingKey {
        case reportVersion = "report_version", job, hyperparameters, setup, progress, workerCount = "worker_count"
        case workers, methods, sets, average, groups, failedUnits = "failed_units", sampleErrors = "sample_errors", conventions
        case comparison
    }

    /// Explicit, so that absent values are `null` rather than missing keys (the schema pins them).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(reportVersion, forKey: .reportVersion)
        try c.encode(job, forKey: .job)
        try c.encode(hyperparameters, forKey: .hyperparameters)
        try c.encode(setup, forKey: .setup)
        try c.encode(progress, forKey: .progress)
        try c.encode(workerCount, forKey: .workerCount)
        try c.encode(workers, forKey: .workers)
        try c.encode(methods, forKey: .methods)
        try c.encode(sets, forKey: .sets)
        try c.encode(average, forKey: .average)
        try c.encode(groups, forKey: .groups)
        try c.encode(failedUnits, forKey: .failedUnits)
        try c.encode(sampleErrors, forKey: .sampleErrors)
        try c.encode(conventions, forKey: .conventions)
        try c.encode(comparison, forKey: .comparison)
    }
}

extension JobReport.JobInfo {
    enum CodingKeys: String, CodingKey {
        case name, id, createdAt = "created_at", source, seed, model, modelChecksum = "model_checksum", precision, spec
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(id, forKey: .id)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(source, forKey: .source)
        try c.encode(seed, forKey: .seed)
        try c.encode(model, forKey: .model)
        try c.encode(modelChecksum, forKey: .modelChecksum)
        try c.encode(precision, forKey: .precision)
        try c.encode(spec, forKey: .spec)
    }
}

extension JobReport.Setup {
    enum CodingKeys: String, CodingKey {
        case numID = "num_id", labelCount = "label_count", dimension, textFeatures = "text_features", permutation
        case syncEvery = "sync_every", unitBatches = "unit_batches", unitSize = "unit_size", keepFeatures = "keep_features", inputs
    }
}

extension JobReport.SetInput {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encode(group, forKey: .group)
        try c.encode(count, forKey: .count)
    }
}

