import Dispatch

/// Row-wise and element-wise kernels for transformer inference: layer norm, bias, the GELU
/// family, all vectorised eight lanes at a time over contiguous `Float` storage.
///
/// They take raw pointers so callers can run them over sub-blocks of larger buffers (a tower's
/// hidden states, one head's scores) without copies. `parallelFor` splits large element-wise
/// passes across cores; BLAS does the same for the matrix products around them.
public enum NeuralKernels {
    public typealias Lanes = SIMD8<Float>

    // MARK: Parallel helpers

    /// Runs `body` over `0..<count` split into contiguous chunks, one per core when `count`
    /// is at least `grain` (so small inputs stay on the calling thread).
    /// Runs on the OpenMP team (`OpenMPPool`), the pool oneDNN's products use, unless
    /// `ADANEG_CPU_POOL=dispatch` asks for Dispatch's threads (kept to measure the two against
    /// each other; see BENCHMARKS.md).
    public static func parallelFor(_ count: Int, grain: Int = 64, _ body: @Sendable (Range<Int>) -> Void) {
        let workers = min(activeProcessorCount, max(1, count / max(grain, 1)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        if pool == .openMP {
            OpenMPPool.forEachRange(count, threads: workers, grain: 1, body)
            return
        }
        let chunk = (count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk
            let hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// The threads the kernels between products run on.
    public enum Pool: String, Sendable {
        case openMP = "openmp"
        case dispatch
    }

    /// `openmp` unless the environment's `ADANEG_CPU_POOL` says `dispatch`.
    public static let pool: Pool = {
        guard let raw = getenv("ADANEG_CPU_POOL") else { return .openMP }
        return Pool(rawValue: String(cString: raw).lowercased()) ?? .openMP
    }()

    /// Runs `body(worker)` for `worker` in `0..<workers` on the chosen pool and waits for all.
    public static func perWorker(_ workers: Int, _ body: @Sendable (Int) -> Void) {
        if workers <= 1 { body(0); return }
        switch pool {
        case .openMP:
            OpenMPPool.run(threads: workers) { member, team in
                // A smaller team than asked (inside another region): the members share the workers.
                var w = member
                while w < workers { body(w); w += team }
            }
        case .dispatch:
            DispatchQueue.concurrentPerform(iterations: workers, execute: body)
        }
    }

    /// Number of cores to split element-wise work across (set once, e.g. from `--threads`).
    nonisolated(unsafe) public static var activeProcessorCount: Int = {
        #if canImport(Glibc)
        let n = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return max(1, n)
        #else
        return 1
        #endif
    }()

    // MARK: Layer norm

    /// `out[r] = (x[r] − mean) / sqrt(var + eps) · gamma + beta` for `rows` rows of `cols`
    /// values; `x` rows are `xStride` apart and `out` rows `outStride` apart (they may alias).
    public static func layerNorm(
        _ x: UnsafePointer<Float>, xStride: Int,
        rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        normalizeRows(x, xStride: xStride, rows: rows, cols: cols, gamma: gamma, beta: beta, eps: eps, out: out, outStride: outStride,
                      { row, i, v in UnsafeMutableRawPointer(row).storeBytes(of: v, toByteOffset: i * 4, as: Lanes.self) },
                      { row, i, v in row[i] = v })
    }

    /// The same layer norm, statistics and affine map in fp32, written rounded to bf16: the
    /// input of the bf16 product that follows, so no separate conversion pass reads it again.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, xStride: Int,
        rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        out: UnsafeMutablePointer<UInt16>, outStride: Int
    ) {
        normalizeRows(x, xStride: xStride, rows: rows, cols: cols, gamma: gamma, beta: beta, eps: eps, out: out, outStride: outStride,
                      { row, i, v in UnsafeMutableRawPointer(row).storeBytes(of: BFloat16.round(v), toByteOffset: i * 2, as: SIMD8<UInt16>.self) },
                      { row, i, v in row[i] = BFloat16.fromFloat(v) })
    }

    /// The rows of a layer norm: per row the statistics, then `(x − mean) · inv · gamma + beta`
    /// handed to `lanes` eight values at a time (with the output row and first index) and the
    /// tail to `scalar`; the two store the values in the output's element type.
    @inline(__always)
    static func normalizeRows<Element>(
        _ x: UnsafePointer<Float>, xStride: Int, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        out: UnsafeMutablePointer<Element>, outStride: Int,
        _ lanes: (UnsafeMutablePointer<Element>, Int, Lanes) -> Void, _ scalar: (UnsafeMutablePointer<Element>, Int, Float) -> Void
    ) {
        for r in 0..<rows {
            let src = x + r * xStride
            let dst = out + r * outStride
            let (mean, inv) = moments(src, cols: cols, eps: eps)
            let meanLanes = Lanes(repeating: mean), invLanes = Lanes(repeating: inv)
            let rawSrc = UnsafeRawPointer(src), rawG = UnsafeRawPointer(gamma), rawB = UnsafeRawPointer(beta)
            var i = 0
            while i + 8 <= cols {
                let v = (rawSrc.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) - meanLanes) * invLanes
                let g = rawG.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)
                let b = rawB.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)
                lanes(dst, i, v * g + b)
                i += 8
            }
            while i < cols { scalar(dst, i, (src[i] - mean) * inv * gamma[i] + beta[i]); i += 1 }
        }
    }

    /// A row's mean and `1 / sqrt(variance + eps)` (two passes, for accuracy on rows with a
    /// large mean, such as CLIP's residual stream).
    @inline(__always)
    static func moments(_ src: UnsafePointer<Float>, cols: Int, eps: Float) -> (mean: Float, inv: Float) {
        let invCols = 1 / Float(cols)
        let rawSrc = UnsafeRawPointer(src)
        var acc = Lanes(repeating: 0)
        var i = 0
        while i + 8 <= cols {
            acc += rawSrc.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)
            i += 8
        }
        var sum = acc.sum()
        while i < cols { sum += src[i]; i += 1 }
        let mean = sum * invCols
        let meanLanes = Lanes(repeating: mean)
        acc = Lanes(repeating: 0)
        i = 0
        while i + 8 <= cols {
            let d = rawSrc.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) - meanLanes
            acc += d * d
            i += 8
        }
        var sq = acc.sum()
        while i < cols { let d = src[i] - mean; sq += d * d; i += 1 }
        return (mean, 1 / (sq * invCols + eps).squareRoot())
    }

    // MARK: Bias

    /// `x[r] += bias` for `rows` contiguous rows of `cols` values.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        let rawB = UnsafeRawPointer(bias)
        for r in 0..<rows {
            let row = UnsafeMutableRawPointer(x + r * cols)
            var i = 0
            while i + 8 <= cols {
                let v = row.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) + rawB.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)
                row.storeBytes(of: v, toByteOffset: i * 4, as: Lanes.self)
                i += 8
            }
            while i < cols { x[r * cols + i] += bias[i]; i += 1 }
        }
    }

    // MARK: Activations

    /// Applies `f` to `count` values in place, eight at a time (the tail padded through a lane).
    @inline(__always)
    static func map(_ x: UnsafeMutablePointer<Float>, count: Int, _ f: (Lanes) -> Lanes) {
        let raw = UnsafeMutableRawPointer(x)
        var i = 0
        while i + 8 <= count {
            raw.storeBytes(of: f(raw.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)), toByteOffset: i * 4, as: Lanes.self)
            i += 8
        }
        if i < count {
            var tail = Lanes(repeating: 0)
            for j in 0..<(count - i) { tail[j] = x[i + j] }
            let y = f(tail)
            for j in 0..<(count - i) { x[i + j] = y[j] }
        }
    }

    /// `x · σ(1.702 x)`: OpenAI CLIP's QuickGELU.
    @inline(__always)
    public static func quickGELU(_ x: Lanes) -> Lanes {
        x / (1 + FastExp.exp(x * -1.702))
    }

    /// `x · Φ(x) = ½ x (1 + erf(x/√2))`: the exact GELU (`hidden_act: gelu`).
    @inline(__always)
    public static func gelu(_ x: Lanes) -> Lanes {
        0.5 * x * (1 + erf(x * 0.70710678118654752))
    }

    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    @inline(__always)
    public static func geluTanh(_ x: Lanes) -> Lanes {
        let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        // tanh(u) = 1 − 2 / (e^{2u} + 1)
        let t = 1 - 2 / (FastExp.exp(2 * u) + 1)
        return 0.5 * x * (1 + t)
    }

    @inline(__always)
    public static func relu(_ x: Lanes) -> Lanes {
        x.replacing(with: 0, where: x .< 0)
    }

    /// `erf(x)` to about 1.5e-7 absolute (Abramowitz & Stegun 7.1.26), odd-symmetric.
    @inline(__always)
    public static func erf(_ x: Lanes) -> Lanes {
        let a = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (1 + 0.3275911 * a)
        var p = Lanes(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        p = p * t
        let y = 1 - p * FastExp.exp(-(a * a))
        return y.replacing(with: -y, where: x .< 0)
    }

    public static func quickGELU(_ x: UnsafeMutablePointer<Float>, count: Int) { map(x, count: count, quickGELU) }
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) { map(x, count: count, gelu) }
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) { map(x, count: count, geluTanh) }
    public static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) { map(x, count: count, relu) }

    /// `bias` added then `activation` applied, row by row (one pass over memory).
    public static func addBiasThen(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>,
        _ activation: (Lanes) -> Lanes
    ) {
        let rawB = UnsafeRawPointer(bias)
        for r in 0..<rows {
            let rowPtr = x + r * cols
            let row = UnsafeMutableRawPointer(rowPtr)
            var i = 0
            while i + 8 <= cols {
                let v = row.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) + rawB.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)
                row.storeBytes(of: activation(v), toByteOffset: i * 4, as: Lanes.self)
                i += 8
            }
            if i < cols {
                var tail = Lanes(repeating: 0)
                for j in 0..<(cols - i) { tail[j] = rowPtr[i + j] + bias[i + j] }
                let y = activation(tail)
                for j in 0..<(cols - i) { rowPtr[i + j] = y[j] }
            }
        }
    }

    // MARK: Softmax

    /// Softmax of `count` values scaled by `scale` in place: `x ← softmax(scale · x)`.
    public static func scaledSoftmax(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) {
        guard count > 0 else { return }
        var m = -Float.infinity
        for i in 0..<count where x[i] > m { m = x[i] }
        let shift = m * scale
        let raw = UnsafeMutableRawPointer(x)
        let s = Lanes(repeating: scale), sh = Lanes(repeating: shift)
        var acc = Lanes(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let e = FastExp.exp(raw.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) * s - sh)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: Lanes.self)
            acc += e
            i += 8
        }
        var total = acc.sum()
        while i < count { let e = FastExp.exp(x[i] * scale - shift); x[i] = e; total += e; i += 1 }
        let inv = Lanes(repeating: 1 / total)
        i = 0
        while i + 8 <= count {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) * inv, toByteOffset: i * 4, as: Lanes.self)
            i += 8
        }
        let invS = 1 / total
        while i < count { x[i] *= invS; i += 1 }
    }
}

#if canImport(Glibc)
import Glibc
#endif
