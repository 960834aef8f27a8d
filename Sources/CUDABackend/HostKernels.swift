import CLIP
import COpenBLAS
import Foundation

/// The kernels of kernels.cu and the products, computed on the CPU for `HostDevice`: the same
/// arithmetic in the same order per element (fp32, two-pass layer norm, max-shifted softmax,
/// erf GELU), so the double checks the towers' data flow, not a second model.
struct HostKernels {
    let device: HostDevice
    var low: LowPrecision { device.lowPrecision }

    func f(_ b: DeviceBuffer) -> UnsafeMutablePointer<Float> { device.pointer(b).assumingMemoryBound(to: Float.self) }
    func h(_ b: DeviceBuffer) -> UnsafeMutablePointer<UInt16> { device.pointer(b).assumingMemoryBound(to: UInt16.self) }
    func toLow(_ x: Float) -> UInt16 { LowBits.fromFloat(x, low) }

    func run(_ call: KernelCall) {
        switch call {
        case let .pixelsToPatches(pixels, patches, batch, size, patch, mean, std):
            let px = device.pointer(pixels).assumingMemoryBound(to: UInt8.self), out = h(patches)
            let grid = size / patch, k = 3 * patch * patch
            for i in 0..<(batch * grid * grid * k) {
                let row = i / k, col = i % k
                let c = col / (patch * patch), ky = (col / patch) % patch, kx = col % patch
                let b = row / (grid * grid), cell = row % (grid * grid), gy = cell / grid, gx = cell % grid
                let v = px[b * 3 * size * size + c * size * size + (gy * patch + ky) * size + gx * patch + kx]
                out[i] = toLow((Float(v) / 255 - mean[c]) / std[c])
            }
        case let .assembleTokens(patchOut, cls, pos, x, batch, tokens, hidden):
            let p = f(patchOut), c = f(cls), ps = f(pos), o = f(x)
            for i in 0..<(batch * tokens * hidden) {
                let j = i % hidden, t = (i / hidden) % tokens, b = i / hidden / tokens
                let v = t == 0 ? c[j] : p[(b * (tokens - 1) + t - 1) * hidden + j]
                o[i] = v + ps[t * hidden + j]
            }
        case let .embedTokens(ids, table, pos, x, rows, seq, hidden):
            let id = device.pointer(ids).assumingMemoryBound(to: Int32.self), t = f(table), p = f(pos), o = f(x)
            for r in 0..<rows {
                for j in 0..<hidden { o[r * hidden + j] = t[Int(id[r]) * hidden + j] + p[(r % seq) * hidden + j] }
            }
        case let .layerNorm(x, gamma, beta, outF, outLow, rows, cols, eps):
            let s = f(x), g = f(gamma), bt = f(beta)
            let of = outF.map(f), ol = outLow.map(h)
            for r in 0..<rows {
                let row = s + r * cols
                var sum: Float = 0
                for j in 0..<cols { sum += row[j] }
                let mean = sum / Float(cols)
                var q: Float = 0
                for j in 0..<cols { let d = row[j] - mean; q += d * d }
                let inv = 1 / (q / Float(cols) + eps).squareRoot()
                for j in 0..<cols {
                    let y = (row[j] - mean) * inv * g[j] + bt[j]
                    of?[r * cols + j] = y
                    ol?[r * cols + j] = toLow(y)
                }
            }
        case let .biasActivation(input, bias, out, rows, cols, activation):
            let s = f(input), b = f(bias), o = h(out)
            for i in 0..<(rows * cols) { o[i] = toLow(Self.activate(s[i] + b[i % cols], activation)) }
        case let .addBias(x, bias, rows, cols):
            let o = f(x), b = f(bias)
            for i in 0..<(rows * cols) { o[i] += b[i % cols] }
        case let .splitHeads(qkv, bias, q, k, v, batch, seq, heads, headDim):
            let s = f(qkv), b = f(bias), outs = [h(q), h(k), h(v)]
            let hidden = heads * headDim
            for i in 0..<(batch * seq * 3 * hidden) {
                let c = i % (3 * hidden), r = i / (3 * hidden)
                let part = c / hidden, within = c % hidden, head = within / headDim, e = within % headDim
                outs[part][((r / seq * heads + head) * seq + r % seq) * headDim + e] = toLow(s[i] + b[c])
            }
        case let .softmax(scores, probs, rows, seq, causal):
            let s = f(scores), o = h(probs)
            for r in 0..<rows {
                let length = causal ? r % seq + 1 : seq
                let row = s + r * seq
                var m = -Float.greatestFiniteMagnitude
                for j in 0..<length { m = max(m, row[j]) }
                var sum: Float = 0
                for j in 0..<length { sum += Foundation.exp(row[j] - m) }
                let inv = 1 / sum
                for j in 0..<seq { o[r * seq + j] = j < length ? toLow(Foundation.exp(row[j] - m) * inv) : 0 }
            }
        case let .mergeHeads(o, out, batch, seq, heads, headDim):
            let s = f(o), d = h(out), hidden = heads * headDim
            for i in 0..<(batch * seq * hidden) {
                let c = i % hidden, r = i / hidden
                d[i] = toLow(s[((r / seq * heads + c / headDim) * seq + r % seq) * headDim + c % headDim])
            }
        case let .gatherRows(x, rows, out, count, cols):
            let s = f(x), idx = device.pointer(rows).assumingMemoryBound(to: Int32.self), o = f(out)
            for i in 0..<count { (o + i * cols).update(from: s + Int(idx[i]) * cols, count: cols) }
        case let .l2Normalize(x, rows, cols):
            let o = f(x)
            for r in 0..<rows {
                var s: Float = 0
                for j in 0..<cols { s += o[r * cols + j] * o[r * cols + j] }
                let norm = s.squareRoot()
                if norm > 0 { for j in 0..<cols { o[r * cols + j] *= 1 / norm } }
            }
        case let .castToLow(input, out, count):
            let s = f(input), o = h(out)
            for i in 0..<count { o[i] = toLow(s[i]) }
        }
    }

    static func activate(_ v: Float, _ activation: Activation?) -> Float {
        switch activation {
        case nil: v
        case .quickGELU?: v / (1 + Foundation.exp(-1.702 * v))
        case .gelu?: 0.5 * v * (1 + Foundation.erf(v * 0.70710678118654752))
        case .geluTanh?: 0.5 * v * (1 + Foundation.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
        case .relu?: max(v, 0)
        }
    }

    /// One operand of a batch as fp32 (`rows × cols` with its `ld`), widened when 16-bit.
    func widen(_ o: GemmOperand, batch i: Int, rows: Int, cols: Int) -> [Float] {
        let start = o.offset + i * o.stride
        var out = [Float](repeating: 0, count: rows * o.ld)
        for r in 0..<rows {
            for c in 0..<cols {
                let e = start + r * o.ld + c
                out[r * o.ld + c] = o.type == .f32 ? f(o.buffer)[e] : LowBits.toFloat(h(o.buffer)[e], low)
            }
        }
        return out
    }

    func gemm(_ g: GemmCall) {
        for i in 0..<g.batch {
            let a = widen(g.a, batch: i, rows: g.transA ? g.k : g.m, cols: g.transA ? g.m : g.k)
            let b = widen(g.b, batch: i, rows: g.transB ? g.n : g.k, cols: g.transB ? g.k : g.n)
            var c = g.beta == 0 ? [Float](repeating: 0, count: g.m * g.c.ld) : widen(g.c, batch: i, rows: g.m, cols: g.n)
            cblas_sgemm(CblasRowMajor, g.transA ? CblasTrans : CblasNoTrans, g.transB ? CblasTrans : CblasNoTrans,
                        Int32(g.m), Int32(g.n), Int32(g.k), g.alpha, a, Int32(g.a.ld), b, Int32(g.b.ld), g.beta, &c, Int32(g.c.ld))
            let start = g.c.offset + i * g.c.stride
            for r in 0..<g.m {
                for col in 0..<g.n {
                    let v = c[r * g.c.ld + col]
                    if g.c.type == .f32 { f(g.c.buffer)[start + r * g.c.ld + col] = v } else { h(g.c.buffer)[start + r * g.c.ld + col] = toLow(v) }
                }
            }
        }
    }
}
