/// The OOD-detection metrics of OpenOOD for one ID-vs-OOD set.
///
/// Conventions (docs/algorithm.md, "Metrics"): OOD is the positive class with score `−conf` for FPR95,
/// AUROC and AUPR-Out; AUPR-In takes ID as positive with `conf`. `fpr95` is OpenOOD's figure
/// (share of ID flagged OOD at 95% OOD recall); `fpr95IDPositive` is the MCM/NegLabel papers'
/// (share of OOD accepted at 95% ID recall).
public struct OODMetrics: Sendable, Equatable, Codable {
    public var fpr95: Double
    public var fpr95IDPositive: Double
    public var auroc: Double
    public var auprIn: Double
    public var auprOut: Double
    /// ID accuracy of the prediction; NaN when no sample is ID.
    public var accuracy: Double
    public var idCount: Int
    public var oodCount: Int

    enum CodingKeys: String, CodingKey {
        case fpr95, fpr95IDPositive = "fpr95_id_positive", auroc, auprIn = "aupr_in", auprOut = "aupr_out"
        case accuracy = "acc", idCount = "id_count", oodCount = "ood_count"
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case lengthMismatch(conf: Int, labels: Int, pred: Int)
        case missingClass(id: Int, ood: Int)
        case nonFiniteScore(sample: Int)

        public var description: String {
            switch self {
            case let .lengthMismatch(conf, labels, pred):
                "scores (\(conf)), labels (\(labels)) and predictions (\(pred)) differ in length"
            case let .missingClass(id, ood):
                "metrics need both ID and OOD samples (got \(id) ID, \(ood) OOD)"
            case let .nonFiniteScore(sample):
                "sample \(sample) has a non-finite score"
            }
        }
    }

    /// - Parameters:
    ///   - conf: higher = more in-distribution.
    ///   - labels: ID class index, or −1 for OOD.
    ///   - pred: predicted ID class per sample.
    public static func compute(conf: [Float], labels: [Int], pred: [Int]) throws(Problem) -> OODMetrics {
        try compute(conf: conf.map(Double.init), labels: labels, pred: pred)
    }

    public static func compute(conf: [Double], labels: [Int], pred: [Int]) throws(Problem) -> OODMetrics {
        guard conf.count == labels.count, pred.count == labels.count else {
            throw .lengthMismatch(conf: conf.count, labels: labels.count, pred: pred.count)
        }
        if let bad = conf.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteScore(sample: bad) }
        let isOOD = labels.map { $0 < 0 }
        let oodCount = isOOD.filter { $0 }.count
        let idCount = labels.count - oodCount
        guard idCount > 0, oodCount > 0 else { throw .missingClass(id: idCount, ood: oodCount) }

        let negated = conf.map { -$0 }
        let oodCurve = BinaryCurve(scores: negated, positive: isOOD)
        let (fpr, tpr) = oodCurve.roc()
        let idCurve = BinaryCurve(scores: conf, positive: isOOD.map { !$0 })
        let (fprID, tprID) = idCurve.roc()

        var correct = 0
        for (label, p) in zip(labels, pred) where label >= 0 && label == p { correct += 1 }

        return OODMetrics(
            fpr95: fpr[firstIndex(tpr, atLeast: 0.95)],
            fpr95IDPositive: fprID[firstIndex(tprID, atLeast: 0.95)],
            auroc: trapezoid(x: fpr, y: tpr),
            auprIn: idCurve.averagePrecisionTrapezoid(),
            auprOut: oodCurve.averagePrecisionTrapezoid(),
            accuracy: Double(correct) / Double(idCount),
            idCount: idCount,
            oodCount: oodCount
        )
    }

    /// `np.argmax(values >= threshold)`: the first index meeting it, 0 when none does.
    private static func firstIndex(_ values: [Double], atLeast threshold: Double) -> Int {
        values.firstIndex { $0 >= threshold } ?? 0
    }
}

extension OODMetrics {
    /// The mean of each metric over several OOD sets, like the "Average" column of the paper.
    public static func mean(_ sets: [OODMetrics]) -> OODMetrics? {
        guard !sets.isEmpty else { return nil }
        let n = Double(sets.count)
        func avg(_ key: KeyPath<OODMetrics, Double>) -> Double { sets.reduce(0) { $0 + $1[keyPath: key] } / n }
        return OODMetrics(
            fpr95: avg(\.fpr95), fpr95IDPositive: avg(\.fpr95IDPositive), auroc: avg(\.auroc),
            auprIn: avg(\.auprIn), auprOut: avg(\.auprOut), accuracy: avg(\.accuracy),
            idCount: sets.reduce(0) { $0 + $1.idCount }, oodCount: sets.reduce(0) { $0 + $1.oodCount }
        )
    }
}
