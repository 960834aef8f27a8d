import AdaNeg
import JobPlan
import JobProtocol

/// Curve data for the HTML report, computed from the stored scores: a downsampled ROC curve
/// (OOD positive, score −conf, the AUROC convention) and ID-vs-OOD histograms.
struct ScoreSplit {
    /// Ascending scores of the ID and the OOD samples.
    var id: [Float]
    var ood: [Float]

    init(results: [ResultRecord], method: ScoringMethod) {
        var id = [Float](), ood = [Float]()
        id.reserveCapacity(results.count)
        ood.reserveCapacity(results.count / 2)
        for r in JobReport.scored(results) {
            let s = method.score(of: r.score)
            guard s.isFinite else { continue }
            if r.label >= 0 { id.append(s) } else { ood.append(s) }
        }
        id.sort()
        ood.sort()
        self.id = id
        self.ood = ood
    }

    /// ROC points (FPR, TPR) from (0, 0) to (1, 1): lowering the ID-score threshold flags
    /// more samples as OOD. Consecutive points closer than `resolution` (L1) are merged, so a
    /// curve has at most about 2 / resolution points however many samples there are.
    func roc(resolution: Double = 0.004) -> [(fpr: Double, tpr: Double)] {
        guard !id.isEmpty, !ood.isEmpty else { return [] }
        let n = Double(id.count), p = Double(ood.count)
        var points = [(fpr: 0.0, tpr: 0.0)]
        var i = 0, j = 0
        var last = (fpr: 0.0, tpr: 0.0)
        while i < id.count || j < ood.count {
            // The next distinct score, taking every sample at it (ties form one threshold).
            let t = min(i < id.count ? id[i] : .infinity, j < ood.count ? ood[j] : .infinity)
            while i < id.count && id[i] == t { i += 1 }
            while j < ood.count && ood[j] == t { j += 1 }
            let point = (fpr: Double(i) / n, tpr: Double(j) / p)
            let done = i == id.count && j == ood.count
            if done || abs(point.fpr - last.fpr) + abs(point.tpr - last.tpr) >= resolution {
                points.append(point)
                last = point
            }
        }
        return points
    }

    /// Share of each class per bin over the common score range.
    func histogram(bins: Int = 40) -> (lo: Float, hi: Float, id: [Double], ood: [Double])? {
        let lo = Swift.min(id.first ?? .infinity, ood.first ?? .infinity)
        guard lo.isFinite else { return nil }
        var hi = Swift.max(id.last ?? -.infinity, ood.last ?? -.infinity)
        if hi <= lo { hi = lo + 1 }
        func counts(_ xs: [Float]) -> [Double] {
            var c = [Double](repeating: 0, count: bins)
            let scale = Float(bins) / (hi - lo)
            for x in xs { c[Swift.min(bins - 1, Swift.max(0, Int((x - lo) * scale)))] += 1 }
            let total = Double(Swift.max(xs.count, 1))
            return c.map { $0 / total }
        }
        return (lo, hi, counts(id), counts(ood))
    }
}
