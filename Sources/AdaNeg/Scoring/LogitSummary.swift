import Tensor

#if canImport(Glibc)
import Glibc
#endif

/// What the scorer needs to know about one sample's row of logits over the C + M labels
/// (internal column order, see `LabelSpace`).
///
/// Log-sum-exps are shifted by each segment's maximum and combined in `Double`, so the grouped
/// score `S = mean_g softmax([ID, group g])[ID].sum()` is computed as
/// `mean_g σ(lse_ID − lse_g)` without ever materialising a softmax.
struct LogitSummary {
    /// `log Σ_{i≤C} e^{z_i}`.
    var lseID: Double
    /// `log Σ_{all C+M labels} e^{z_i}`.
    var lseAll: Double
    /// `log Σ_{all M negatives} e^{z_i}` (dropped ones included).
    var lseNegatives: Double
    /// The grouped negative-label score `S(z)`.
    var groupedScore: Double
    var maxID: Float
    var argmaxID: Int

    /// Summarises `z[0 ..< space.labelCount]`. Without `argmax` (the adaptive logits, whose
    /// prediction comes from the softmaxes), `argmaxID` is -1.
    static func of(_ z: UnsafePointer<Float>, in space: LabelSpace, argmax: Bool = true) -> LogitSummary {
        let c = space.numID
        let id = UnsafeBufferPointer(start: z, count: c)
        let argmaxID = argmax ? RowKernels.argmax(id) : -1
        let maxID = argmax ? id[argmaxID] : segmentMax(id)
        let lseID = segmentLSE(id, max: maxID)

        var score = 0.0
        var negMax = -Double.infinity
        var groupLSE = [Double](repeating: 0, count: space.groups + 1)
        for g in 0..<space.groups {
            let seg = UnsafeBufferPointer(start: z + c + g * space.groupSize, count: space.groupSize)
            let lse = segmentLSE(seg, max: segmentMax(seg))
            groupLSE[g] = lse
            negMax = Swift.max(negMax, lse)
            score += 1 / (1 + exp(lse - lseID))
        }
        let dropped = space.numNegatives - space.keptNegatives
        if dropped > 0 {
            let seg = UnsafeBufferPointer(start: z + c + space.keptNegatives, count: dropped)
            groupLSE[space.groups] = segmentLSE(seg, max: segmentMax(seg))
        } else {
            groupLSE[space.groups] = -.infinity
        }
        negMax = Swift.max(negMax, groupLSE[space.groups])
        var negSum = 0.0
        for v in groupLSE where v > -.infinity { negSum += exp(v - negMax) }
        let lseNegatives = negMax + log(negSum)
        return LogitSummary(
            lseID: lseID,
            lseAll: logAddExp(lseID, lseNegatives),
            lseNegatives: lseNegatives,
            groupedScore: score / Double(space.groups),
            maxID: maxID,
            argmaxID: argmaxID
        )
    }

    /// `RowKernels.max` sixteen lanes at a time: the same value (the largest non-NaN element,
    /// -inf for none), since a maximum does not depend on the order it is taken in.
    @inline(__always)
    static func segmentMax(_ x: UnsafeBufferPointer<Float>) -> Float {
        let n = x.count
        guard let base = x.baseAddress else { return -.infinity }
        var m = -Float.infinity
        var i = 0
        if n >= 16 {
            var lanes = SIMD16<Float>(repeating: -.infinity)
            let raw = UnsafeRawPointer(base)
            while i + 16 <= n {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                lanes.replace(with: v, where: v .> lanes)
                i += 16
            }
            for k in 0..<16 where lanes[k] > m { m = lanes[k] }
        }
        while i < n {
            if x[i] > m { m = x[i] }
            i += 1
        }
        return m
    }

    /// `max(x)` plus `log Σ e^(x − max)`, in `Double`.
    @inline(__always)
    static func segmentLSE(_ x: UnsafeBufferPointer<Float>, max m: Float) -> Double {
        guard m > -.infinity else { return -.infinity }
        return Double(m) + log(Double(RowKernels.sumExp(x, minus: m)))
    }
}

@inline(__always)
func logAddExp(_ a: Double, _ b: Double) -> Double {
    let m = Swift.max(a, b)
    guard m > -.infinity else { return m }
    return m + log(exp(a - m) + exp(b - m))
}

/// Entropy `−Σ p·log(p + 1e-8)` of `softmax(x)` given its log-sum-exp, as the reference
/// computes it (the ε inside the log included), accumulated in `Double`.
func softmaxEntropy(_ x: UnsafeBufferPointer<Float>, lse: Double) -> Float {
    let shift = Float(lse)
    let correction = Float(lse - Double(shift)) // keep the Double precision of the shift
    var h = 0.0
    var i = 0
    let n = x.count
    guard let base = x.baseAddress else { return 0 }
    let raw = UnsafeRawPointer(base)
    while i + 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: FastExp.Lanes.self)
        let p = FastExp.exp(v - shift - correction)
        var lane: Float = 0
        for k in 0..<8 { lane -= p[k] * logf(p[k] + 1e-8) }
        h += Double(lane)
        i += 8
    }
    while i < n {
        let p = FastExp.exp(x[i] - shift - correction)
        h -= Double(p * logf(p + 1e-8))
        i += 1
    }
    return Float(h)
}
