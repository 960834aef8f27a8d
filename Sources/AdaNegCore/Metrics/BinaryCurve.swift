/// Cumulative true- and false-positive counts at each distinct score threshold, highest score
/// first: the common core of ROC and precision–recall curves, computed exactly as
/// scikit-learn's `_binary_clf_curve` (ties form one threshold).
struct BinaryCurve {
    /// `tps[k]`, `fps[k]`: positives and negatives with score ≥ the k-th distinct threshold.
    var tps: [Double]
    var fps: [Double]

    init(scores: [Double], positive: [Bool]) {
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var tps = [Double](), fps = [Double]()
        var tp = 0.0, fp = 0.0
        for (k, i) in order.enumerated() {
            if positive[i] { tp += 1 } else { fp += 1 }
            let last = k == order.count - 1
            if last || scores[order[k + 1]] != scores[i] {
                tps.append(tp)
                fps.append(fp)
            }
        }
        self.tps = tps
        self.fps = fps
    }

    /// ROC points with the (0, 0) origin first, as `roc_curve` returns them with its default
    /// `drop_intermediate=True`: a point in the middle of an evenly spaced straight run is
    /// dropped. That does not change the area, but it can change which point first reaches a
    /// TPR (FPR95 on tied scores), so it is reproduced.
    func roc() -> (fpr: [Double], tpr: [Double]) {
        let p = tps.last ?? 0, n = fps.last ?? 0
        var fpr = [0.0], tpr = [0.0]
        for k in tps.indices {
            if k > 0, k < tps.count - 1,
               fps[k + 1] - 2 * fps[k] + fps[k - 1] == 0,
               tps[k + 1] - 2 * tps[k] + tps[k - 1] == 0 { continue }
            fpr.append(n > 0 ? fps[k] / n : .nan)
            tpr.append(p > 0 ? tps[k] / p : .nan)
        }
        return (fpr, tpr)
    }

    /// Area under precision–recall as `auc(recall, precision)` of `precision_recall_curve`.
    func averagePrecisionTrapezoid() -> Double {
        let p = tps.last ?? 0
        var recall = [Double](), precision = [Double]()
        for k in tps.indices.reversed() {
            let predicted = tps[k] + fps[k]
            precision.append(predicted > 0 ? tps[k] / predicted : 0)
            recall.append(p > 0 ? tps[k] / p : 1)
        }
        precision.append(1)
        recall.append(0)
        return abs(trapezoid(x: recall, y: precision))
    }
}

/// `np.trapz(y, x)`.
func trapezoid(x: [Double], y: [Double]) -> Double {
    var area = 0.0
    for i in 1..<max(x.count, 1) where i < x.count {
        area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2
    }
    return area
}
