/// Row-wise kernels over contiguous `Float` storage.
///
/// They take raw buffers so callers can run them over a row of a larger matrix without
/// copying; every function is numerically stable for logits in the ±100s that CLIP's logit
/// scale produces.
public enum RowKernels {
    /// `max(x)`; `-inf` for an empty row.
    @inlinable
    public static func max(_ x: UnsafeBufferPointer<Float>) -> Float {
        var m = -Float.infinity
        for v in x where v > m { m = v }
        return m
    }

    /// Index of the first maximum (NaN-free input assumed); -1 for an empty row.
    @inlinable
    public static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
        var best = -1
        var m = -Float.infinity
        for i in x.indices where best < 0 || x[i] > m {
            m = x[i]
            best = i
        }
        return best
    }

    /// `Σ e^(x_i − shift)`, accumulated eight lanes at a time.
    @inlinable
    public static func sumExp(_ x: UnsafeBufferPointer<Float>, minus shift: Float) -> Float {
        let n = x.count
        guard n > 0, let base = x.baseAddress else { return 0 }
        var acc = FastExp.Lanes(repeating: 0)
        let shiftLanes = FastExp.Lanes(repeating: shift)
        var i = 0
        let raw = UnsafeRawPointer(base)
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: FastExp.Lanes.self)
            acc += FastExp.exp(v - shiftLanes)
            i += 8
        }
        var total = acc.sum()
        while i < n {
            total += FastExp.exp(x[i] - shift)
            i += 1
        }
        return total
    }

    /// `log Σ e^(x_i)`, stable: shifted by the row maximum. `-inf` for an empty row.
    @inlinable
    public static func logSumExp(_ x: UnsafeBufferPointer<Float>) -> Float {
        let m = max(x)
        guard m.isFinite else { return m }
        return m + _log(sumExp(x, minus: m))
    }

    /// Softmax in place.
    @inlinable
    public static func softmax(_ x: UnsafeMutableBufferPointer<Float>) {
        let lse = logSumExp(UnsafeBufferPointer(x))
        exponentiate(x, minus: lse)
    }

    /// `x_i ← e^(x_i − shift)` in place.
    @inlinable
    public static func exponentiate(_ x: UnsafeMutableBufferPointer<Float>, minus shift: Float) {
        let n = x.count
        guard n > 0, let base = x.baseAddress else { return }
        let shiftLanes = FastExp.Lanes(repeating: shift)
        let raw = UnsafeMutableRawPointer(base)
        var i = 0
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: FastExp.Lanes.self)
            raw.storeBytes(of: FastExp.exp(v - shiftLanes), toByteOffset: i * 4, as: FastExp.Lanes.self)
            i += 8
        }
        while i < n {
            x[i] = FastExp.exp(x[i] - shift)
            i += 1
        }
    }

    /// Shannon entropy `−Σ p·log(p + ε)` of `softmax(x)`, computed the way the reference does
    /// (probabilities first, then the ε-guarded log), in `Float`.
    @inlinable
    public static func softmaxEntropy(_ x: UnsafeBufferPointer<Float>, epsilon: Float = 1e-8, scratch: inout [Float]) -> Float {
        if scratch.count < x.count { scratch = [Float](repeating: 0, count: x.count) }
        return scratch.withUnsafeMutableBufferPointer { buf -> Float in
            let p = UnsafeMutableBufferPointer(rebasing: buf[0..<x.count])
            _ = p.update(fromContentsOf: x)
            softmax(p)
            var h: Float = 0
            for v in p where v > 0 { h -= v * _log(v + epsilon) }
            return h
        }
    }

    /// `Σ x_i²`.
    @inlinable
    public static func squaredNorm(_ x: UnsafeBufferPointer<Float>) -> Float {
        var acc = FastExp.Lanes(repeating: 0)
        let n = x.count
        guard let base = x.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: FastExp.Lanes.self)
            acc += v * v
            i += 8
        }
        var total = acc.sum()
        while i < n { total += x[i] * x[i]; i += 1 }
        return total
    }

    /// `Σ a_i·b_i`.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = FastExp.Lanes(repeating: 0)
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 8 <= n {
            acc += ra.loadUnaligned(fromByteOffset: i * 4, as: FastExp.Lanes.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: FastExp.Lanes.self)
            i += 8
        }
        var total = acc.sum()
        while i < n { total += a[i] * b[i]; i += 1 }
        return total
    }
}

@usableFromInline
func _log(_ x: Float) -> Float {
    #if canImport(Glibc)
    return Glibc.logf(x)
    #else
    return Foundation.log(x)
    #endif
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
