import AdaNeg
import Foundation
import JobPlan
import JobProtocol

/// How far the distributed result is from the same stream scored sequentially, per OOD set:
/// the price of sharing the memory bank between workers (`--compare-sequential`). Both sides
/// are measured on the same samples: those with a stored result and a stored feature.
public struct SequentialComparison: Codable, Sendable {
    /// The compared method: the job's AdaNeg (its configured proxy).
    public var method: String
    public var label: String
    public var batchSize: Int
    /// The other proxy's key in `methods`, when it was re-scored too.
    public var otherMethod: String?
    public var sets: [SetComparison]
    /// Means over the sets that have both sides.
    public var average: SetComparison?

    public struct SetComparison: Codable, Sendable {
        public var name: String
        /// Samples with a usable stored result and a feature.
        public var compared: Int
        /// Stream positions without a stored feature (not re-scored).
        public var missingFeatures: Int
        public var distributed: OODMetrics?
        public var sequential: OODMetrics?
        /// Distributed minus sequential, per metric (fractions).
        public var delta: Delta?
        /// Largest |distributed − sequential| AdaNeg score over the compared samples.
        public var maxAbsScoreDelta: Double?
        public var note: String?
    }

    public struct Delta: Codable, Sendable, Equatable {
        public var fpr95: Double
        public var fpr95IDPositive: Double
        public var auroc: Double
        public var auprIn: Double
        public var auprOut: Double
        public var accuracy: Double

        init(_ a: OODMetrics, _ b: OODMetrics) {
            fpr95 = a.fpr95 - b.fpr95
            fpr95IDPositive = a.fpr95IDPositive - b.fpr95IDPositive
            auroc = a.auroc - b.auroc
            auprIn = a.auprIn - b.auprIn
            auprOut = a.auprOut - b.auprOut
            accuracy = a.accuracy - b.accuracy
        }

        enum CodingKeys: String, CodingKey {
            case fpr95, fpr95IDPositive = "fpr95_id_positive", auroc, auprIn = "aupr_in", auprOut = "aupr_out", accuracy = "acc"
        }
    }

    enum CodingKeys: String, CodingKey {
        case method, label, batchSize = "batch_size", otherMethod = "other_method", sets, average
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encode(label, forKey: .label)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(otherMethod, forKey: .otherMethod)
        try c.encode(sets, forKey: .sets)
        try c.encode(average, forKey: .average)
    }
}

extension SequentialComparison.SetComparison {
    enum CodingKeys: String, CodingKey {
        case name, compared, missingFeatures = "missing_features", distributed, sequential, delta
        case maxAbsScoreDelta = "max_abs_score_delta", note
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(compared, forKey: .compared)
        try c.encode(missingFeatures, forKey: .missingFeatures)
        try c.encode(distributed, forKey: .distributed)
        try c.encode(sequential, forKey: .sequential)
        try c.encode(delta, forKey: .delta)
        try c.encode(maxAbsScoreDelta, forKey: .maxAbsScoreDelta)
        try c.encode(note, forKey: .note)
    }
}

extension JobReport {
    /// Method key of the other proxy, re-scored sequentially (no distributed counterpart).
    public static let otherProxyKey = "adaneg_other"

    /// Adds the sequential re-score: the comparison, and the other proxy as an extra method
    /// (its metrics on the same samples as the stored methods; means recomputed).
    public mutating func addSequential(_ run: SequentialRun, data: ReportData) {
        let key = "adaneg"
        var other: ReportMethod?
        if let p = run.otherProxy {
            other = ReportMethod(key: Self.otherProxyKey, label: "AdaNeg (\(p.rawValue), sequential)", column: "sequential")
        }
        var rows = [SequentialComparison.SetComparison]()
        for t in data.tasks {
            guard let k = sets.firstIndex(where: { $0.task == t.task.id }) else { continue }
            guard let seq = run.tasks.first(where: { $0.task == t.task.id }) else {
                rows.append(.init(name: sets[k].name, compared: 0, missingFeatures: 0, note: "not re-scored"))
                continue
            }
            // Both sides on the samples that have a usable stored result and a feature.
            var index = [Int: Int](minimumCapacity: seq.positions.count)
            for (i, p) in seq.positions.enumerated() { index[p] = i }
            var labels = [Int](), distConf = [Float](), distPred = [Int](), seqConf = [Float](), seqPred = [Int]()
            var otherConf = [Float](), otherPred = [Int]()
            var maxDelta = 0.0
            for r in Self.scored(t.results) {
                guard let i = index[r.position] else { continue }
                let conf = r.score.conf
                let s = seq.scores[i]
                labels.append(r.label)
                distConf.append(conf); distPred.append(r.score.pred)
                seqConf.append(s.conf); seqPred.append(s.pred)
                maxDelta = max(maxDelta, abs(Double(conf) - Double(s.conf)))
                if let o = seq.otherScores?[i] { otherConf.append(o.conf); otherPred.append(o.pred) }
            }
            var row = SequentialComparison.SetComparison(name: sets[k].name, compared: labels.count, missingFeatures: seq.missing)
            do {
                let d = try OODMetrics.compute(conf: distConf, labels: labels, pred: distPred)
                let s = try OODMetrics.compute(conf: seqConf, labels: labels, pred: seqPred)
                row.distributed = d
                row.sequential = s
                row.delta = .init(d, s)
                row.maxAbsScoreDelta = maxDelta
                if let other, otherConf.count == labels.count {
                    sets[k].metrics[other.key] = try OODMetrics.compute(conf: otherConf, labels: labels, pred: otherPred)
                }
            } catch {
                row.note = error.description
            }
            rows.append(row)
        }
        let both = rows.filter { $0.distributed != nil && $0.sequential != nil }
        var average: SequentialComparison.SetComparison?
        if let d = OODMetrics.mean(both.compactMap(\.distributed)), let s = OODMetrics.mean(both.compactMap(\.sequential)) {
            average = .init(name: "Average", compared: both.reduce(0) { $0 + $1.compared },
                            missingFeatures: both.reduce(0) { $0 + $1.missingFeatures }, distributed: d, sequential: s,
                            delta: .init(d, s), maxAbsScoreDelta: both.compactMap(\.maxAbsScoreDelta).max())
        }
        let label = methods.first { $0.key == key }?.label ?? "AdaNeg"
        comparison = SequentialComparison(method: key, label: label, batchSize: run.batchSize, otherMethod: other?.key,
                                          sets: rows, average: average)
        if let other, !methods.contains(other) {
            methods.append(other)
            self.average = Self.summary("Average", sets, methods: methods)
            groups = Self.groups(sets, methods: methods)
        }
    }

    /// Methods whose scores are stored per sample (the curves and histograms are drawn from them).
    var storedMethods: [ReportMethod] { methods.filter { $0.column != "sequential" } }

    static let sequentialNote = "sequential: the stored features re-scored as one stream per task with the job's hyperparameters; "
        + "Δ = distributed − sequential, on the samples both scored"
}
