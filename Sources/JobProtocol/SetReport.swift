import AdaNegCore
import Foundation

/// One OOD set's metrics for every method: the per-set object of `report --format json`, and
/// of `sweep`'s points. It lives here, below the reporter, because a fleet's workers compute
/// a sweep point's sets (`sweep --coordinator`) and the coordinator stores them as they are,
/// in the same form `sweep --db` stores its own (`sweep_sets.result`): one representation.
public struct SetReport: Codable, Sendable {
    public var name: String
    public var group: String?
    public var task: Int64
    /// Samples in the task's stream (the ID set plus this OOD set).
    public var samples: Int
    /// Stored result rows.
    public var results: Int
    /// Samples used for the metrics (stored, without error).
    public var idCount: Int
    public var oodCount: Int
    public var errored: Int
    /// Samples with no result yet (units not done or failed).
    public var missing: Int
    public var partial: Bool
    public var units: UnitCounts?
    /// By method key; a method is absent when its metrics cannot be computed yet.
    public var metrics: [String: OODMetrics]
    /// Why metrics are absent, if they are.
    public var note: String?

    public init(name: String, group: String?, task: Int64, samples: Int, results: Int, idCount: Int, oodCount: Int,
                errored: Int, missing: Int, partial: Bool, units: UnitCounts?, metrics: [String: OODMetrics], note: String?) {
        self.name = name
        self.group = group
        self.task = task
        self.samples = samples
        self.results = results
        self.idCount = idCount
        self.oodCount = oodCount
        self.errored = errored
        self.missing = missing
        self.partial = partial
        self.units = units
        self.metrics = metrics
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case name, group, task, samples, results, idCount = "id_count", oodCount = "ood_count", errored, missing, partial, units, metrics, note
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(group, forKey: .group)
        try c.encode(task, forKey: .task)
        try c.encode(samples, forKey: .samples)
        try c.encode(results, forKey: .results)
        try c.encode(idCount, forKey: .idCount)
        try c.encode(oodCount, forKey: .oodCount)
        try c.encode(errored, forKey: .errored)
        try c.encode(missing, forKey: .missing)
        try c.encode(partial, forKey: .partial)
        try c.encode(units, forKey: .units)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(note, forKey: .note)
    }

    /// One task's set for one sweep point, from its scores in stream order: every method's
    /// metrics as the report computes them from stored results. `sweep --db` and a fleet worker
    /// taking a sweep unit both call this, so their sets are the same bits.
    /// `labels` holds each scored row's label (ID class or −1); `errored` counts the samples
    /// without a feature.
    public static func sweepSet(task: TaskRecord, labels: [Int], errored: Int, scores: [SampleScore]) -> SetReport {
        let idCount = labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var metrics = [String: OODMetrics]()
        var notes = [String]()
        for method in ScoringMethod.allCases {
            do {
                metrics[method.rawValue] = try OODMetrics.compute(conf: scores.map { method.score(of: $0) }, labels: labels,
                                                                  pred: scores.map { method.prediction(of: $0) })
            } catch {
                if !notes.contains(error.description) { notes.append(error.description) }
            }
        }
        return SetReport(
            name: task.oodName, group: task.oodGroup, task: task.id, samples: task.sampleCount, results: labels.count + errored,
            idCount: idCount, oodCount: labels.count - idCount, errored: errored, missing: 0, partial: false, units: nil,
            metrics: metrics, note: notes.isEmpty ? nil : notes.joined(separator: "; "))
    }
}

/// The stored JSON of sweep results (`sweep_points.result`, `sweep_sets.result`, and a fleet
/// worker's sets on the wire): sorted keys; infinities and NaN as strings (a metric can be
/// undefined, which plain JSON cannot say).
public enum SweepStoredJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(type, from: Data(text.utf8))
    }
}
