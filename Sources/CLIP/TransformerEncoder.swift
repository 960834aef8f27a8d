import COpenBLAS
import Dispatch
import Platform
import Tensor

/// The pre-norm transformer stack shared by CLIP's two towers:
/// `x += attn(LN1(x))`, `x += MLP(LN2(x))`, for a batch of equally long sequences laid out as
/// `batch·seq` contiguous rows of `hidden` values.
///
/// Every projection is one GEMM over all rows of the batch (Q, K and V fused into one), and
/// attention runs one small GEMM pair per (sequence, head), spread over the cores. The last
/// layer only computes the rows that are pooled afterwards (the class token, or each prompt's
/// end-of-text token): keys and values still come from every row, but queries, the output
/// projection and the MLP only from the pooled ones.
///
/// Where oneDNN runs the weights' precision (bf16 always; fp32 unless `FP32Products` says
/// OpenBLAS) the stack runs in `runFused` (TransformerEncoder+Fused.swift): the same structure
/// with bias, activation and residual fused into oneDNN's products. This file's OpenBLAS path is
/// the fp32 fallback.
enum TransformerEncoder {
    // MARK: Entry point

    /// Runs all layers over `x` (`batch·seq × hidden`, overwritten) and returns the final hidden
    /// state of row `pooled[b]` of each sequence `b` (`batch × hidden`), before any final norm.
    /// With `causal`, position `i` attends to positions `0...i` only.
    static func run(_ weights: EncoderWeights, x: inout [Float], batch: Int, seq: Int, causal: Bool, pooled: [Int]) -> [Float] {
        precondition(pooled.count == batch && x.count == batch * seq * weights.hidden)
        if let element = fusedElement(weights) {
            return runFused(weights, element: element, x: &x, batch: batch, seq: seq, causal: causal, pooled: pooled)
        }
        let d = weights.hidden
        let n = batch * seq
        let widest = max(3 * d, weights.layers.map { $0.fc1.outFeatures }.max() ?? 0)
        var normed = [Float](repeating: 0, count: n * d)
        var wide = [Float](repeating: 0, count: n * widest)
        var attended = [Float](repeating: 0, count: n * d)
        let layerCount = weights.layers.count
        for (index, layer) in weights.layers.enumerated() where index < layerCount - 1 {
            fullLayer(layer, weights: weights, x: &x, normed: &normed, wide: &wide, attended: &attended,
                      batch: batch, seq: seq, causal: causal)
        }
        guard let last = weights.layers.last else {
            // No layers: the pooled rows of the input.
            var rows: [Float] = []
            for (b, p) in pooled.enumerated() {
                let start: Int = (b * seq + p) * d
                rows += x[start ..< start + d]
            }
            return rows
        }
        return pooledLayer(last, weights: weights, x: x, normed: &normed, wide: &wide, batch: batch, seq: seq, causal: causal, pooled: pooled)
    }

    // MARK: Full layer

    static func fullLayer(_ layer: EncoderLayerWeights, weights: EncoderWeights, x: inout [Float], normed: inout [Float],
                          wide: inout [Float], attended: inout [Float], batch: Int, seq: Int, causal: Bool) {
        let d = weights.hidden
        let n = batch * seq
        x.withUnsafeMutableBufferPointer { xp in
            normed.withUnsafeMutableBufferPointer { np in
                wide.withUnsafeMutableBufferPointer { wp in
                    attended.withUnsafeMutableBufferPointer { ap in
                        guard let X = xp.baseAddress, let N = np.baseAddress, let W = wp.baseAddress, let A = ap.baseAddress else { return }
                        // attention block
                        layerNormRows(X, rows: n, cols: d, layer.norm1, out: N)
                        linear(N, rows: n, layer.qkv, out: W, activation: nil)
                        attention(qkv: W, batch: batch, seq: seq, hidden: d, heads: weights.heads, causal: causal, out: A)
                        residualLinear(A, rows: n, layer.out, into: X)
                        // MLP block
                        layerNormRows(X, rows: n, cols: d, layer.norm2, out: N)
                        linear(N, rows: n, layer.fc1, out: W, activation: weights.activation)
                        residualLinear(W, rows: n, layer.fc2, into: X)
                    }
                }
            }
        }
    }

    // MARK: Last layer, pooled rows only

    static func pooledLayer(_ layer: EncoderLayerWeights, weights: EncoderWeights, x: [Float], normed: inout [Float],
                            wide: inout [Float], batch: Int, seq: Int, causal: Bool, pooled: [Int]) -> [Float] {
        let d = weights.hidden
        let n = batch * seq
        let heads = weights.heads
        let dh = d / heads
        var y = [Float](repeating: 0, count: batch * d)       // pooled residual stream
        var q = [Float](repeating: 0, count: batch * d)
        var att = [Float](repeating: 0, count: batch * d)
        var scores = [Float](repeating: 0, count: batch * heads * seq)
        let scale = 1 / Float(dh).squareRoot()
        x.withUnsafeBufferPointer { xp in
            normed.withUnsafeMutableBufferPointer { np in
                wide.withUnsafeMutableBufferPointer { wp in
                    y.withUnsafeMutableBufferPointer { yp in
                        q.withUnsafeMutableBufferPointer { qp in
                            att.withUnsafeMutableBufferPointer { ap in
                                scores.withUnsafeMutableBufferPointer { sp in
                                    guard let X = xp.baseAddress, let N = np.baseAddress, let KV = wp.baseAddress,
                                          let Y = yp.baseAddress, let Q = qp.baseAddress, let A = ap.baseAddress,
                                          let S = sp.baseAddress else { return }
                                    layerNormRows(X, rows: n, cols: d, layer.norm1, out: N)
                                    // K and V for every row: rows d..<3d of the fused projection.
                                    layer.qkv.bias.withUnsafeBufferPointer { bq in
                                        guard let Bq = bq.baseAddress else { return }
                                        WeightProducts.multiply(N, lda: d, rows: n, layer.qkv.weight, rowRange: d ..< 3 * d, into: KV, ldc: 2 * d)
                                        biasRows(KV, rows: n, cols: 2 * d, bias: Bq + d)
                                        // Q only for the pooled rows.
                                        for (b, p) in pooled.enumerated() {
                                            (Y + b * d).update(from: X + (b * seq + p) * d, count: d)
                                            (A + b * d).update(from: N + (b * seq + p) * d, count: d)
                                        }
                                        WeightProducts.multiply(A, lda: d, rows: batch, layer.qkv.weight, rowRange: 0 ..< d, into: Q, ldc: d)
                                        biasRows(Q, rows: batch, cols: d, bias: Bq)
                                    }
                                    // One query row per sequence and head.
                                    for b in 0..<batch {
                                        let p = pooled[b]
                                        let length = causal ? p + 1 : seq
                                        for h in 0..<heads {
                                            let s = S + (b * heads + h) * seq
                                            let qRow = Q + b * d + h * dh
                                            let keys = KV + b * seq * 2 * d + h * dh
                                            let values = keys + d
                                            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(length), Int32(dh), scale,
                                                        keys, Int32(2 * d), qRow, 1, 0, s, 1)
                                            NeuralKernels.scaledSoftmax(s, count: length, scale: 1)
                                            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(length), Int32(dh), 1,
                                                        values, Int32(2 * d), s, 1, 0, A + b * d + h * dh, 1)
                                        }
                                    }
                                    residualLinear(A, rows: batch, layer.out, into: Y)
                                    layerNormRows(Y, rows: batch, cols: d, layer.norm2, out: N)
                                    linear(N, rows: batch, layer.fc1, out: KV, activation: weights.activation)
                                    residualLinear(KV, rows: batch, layer.fc2, into: Y)
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    // MARK: Attention

    /// Multi-head self-attention over fused `qkv` rows (`[Q | K | V]`, `3·hidden` wide), writing the
    /// heads' outputs side by side into `out` (`hidden` wide). Each (sequence, head) pair is a
    /// `QKᵀ` GEMM, a row softmax and a `PV` GEMM; pairs run in parallel with single-threaded BLAS.
    static func attention(qkv: UnsafeMutablePointer<Float>, batch: Int, seq: Int, hidden d: Int, heads: Int,
                          causal: Bool, out: UnsafeMutablePointer<Float>) {
        let dh = d / heads
        let scale = 1 / Float(dh).squareRoot()
        let pairs = batch * heads
        let workers = min(NeuralKernels.activeProcessorCount, pairs)
        let perWorker = (pairs + workers - 1) / workers
        let savedThreads = BLAS.threads
        if workers > 1 { BLAS.setThreads(1) }
        let qkvAddress = UInt(bitPattern: qkv), outAddress = UInt(bitPattern: out)
        NeuralKernels.perWorker(workers) { w in
            guard let qkv = UnsafeMutablePointer<Float>(bitPattern: qkvAddress),
                  let out = UnsafeMutablePointer<Float>(bitPattern: outAddress) else { return }
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: seq * seq)
            defer { scores.deallocate() }
            for pair in (w * perWorker) ..< min(pairs, (w + 1) * perWorker) {
                let b = pair / heads, h = pair % heads
                let base = qkv + b * seq * 3 * d + h * dh
                let q = base, k = base + d, v = base + 2 * d
                // S = scale · Q Kᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(seq), Int32(seq), Int32(dh),
                            scale, q, Int32(3 * d), k, Int32(3 * d), 0, scores, Int32(seq))
                for i in 0..<seq {
                    let row = scores + i * seq
                    if causal {
                        NeuralKernels.scaledSoftmax(row, count: i + 1, scale: 1)
                        if i + 1 < seq { (row + i + 1).update(repeating: 0, count: seq - i - 1) }
                    } else {
                        NeuralKernels.scaledSoftmax(row, count: seq, scale: 1)
                    }
                }
                // O = S V
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(seq), Int32(dh), Int32(seq),
                            1, scores, Int32(seq), v, Int32(3 * d), 0, out + b * seq * d + h * dh, Int32(d))
            }
        }
        if workers > 1 { BLAS.setThreads(savedThreads) }
    }

    // MARK: Building blocks

    /// `out = act(x · Wᵀ + b)` for `rows` rows.
    static func linear(_ x: UnsafePointer<Float>, rows: Int, _ l: Linear, out: UnsafeMutablePointer<Float>, activation: Activation?) {
        l.bias.withUnsafeBufferPointer { b in
            guard let B = b.baseAddress else { return }
            WeightProducts.multiply(x, lda: l.inFeatures, rows: rows, l.weight, into: out, ldc: l.outFeatures)
            let cols = l.outFeatures
            let outAddress = UInt(bitPattern: out), biasAddress = UInt(bitPattern: B)
            NeuralKernels.parallelFor(rows, grain: max(1, 16384 / max(cols, 1))) { range in
                guard let o = UnsafeMutablePointer<Float>(bitPattern: outAddress),
                      let bias = UnsafePointer<Float>(bitPattern: biasAddress) else { return }
                let p = o + range.lowerBound * cols
                switch activation {
                case nil: NeuralKernels.addBias(p, rows: range.count, cols: cols, bias: bias)
                case .quickGELU?: NeuralKernels.addBiasThen(p, rows: range.count, cols: cols, bias: bias, NeuralKernels.quickGELU)
                case .gelu?: NeuralKernels.addBiasThen(p, rows: range.count, cols: cols, bias: bias, NeuralKernels.gelu)
                case .geluTanh?: NeuralKernels.addBiasThen(p, rows: range.count, cols: cols, bias: bias, NeuralKernels.geluTanh)
                case .relu?: NeuralKernels.addBiasThen(p, rows: range.count, cols: cols, bias: bias, NeuralKernels.relu)
                }
            }
        }
    }

    /// `into += x · Wᵀ + b` (the residual connection folded into the GEMM's `beta = 1`).
    static func residualLinear(_ x: UnsafePointer<Float>, rows: Int, _ l: Linear, into y: UnsafeMutablePointer<Float>) {
        l.bias.withUnsafeBufferPointer { b in
            guard let B = b.baseAddress else { return }
            biasRows(y, rows: rows, cols: l.outFeatures, bias: B)
            WeightProducts.multiply(x, lda: l.inFeatures, rows: rows, l.weight, into: y, ldc: l.outFeatures, accumulate: true)
        }
    }

    static func biasRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        let xa = UInt(bitPattern: x), ba = UInt(bitPattern: bias)
        NeuralKernels.parallelFor(rows, grain: max(1, 32768 / max(cols, 1))) { range in
            guard let x = UnsafeMutablePointer<Float>(bitPattern: xa), let bias = UnsafePointer<Float>(bitPattern: ba) else { return }
            NeuralKernels.addBias(x + range.lowerBound * cols, rows: range.count, cols: cols, bias: bias)
        }
    }

    static func layerNormRows(_ x: UnsafePointer<Float>, rows: Int, cols: Int, _ w: LayerNormWeights, out: UnsafeMutablePointer<Float>) {
        layerNormRows(x, rows: rows, cols: cols, w, out: UnsafeMutableRawPointer(out), bf16: false)
    }

    /// Layer norm of `rows` fp32 rows split across the cores, written as fp32 or (`bf16`) rounded
    /// to bf16 for the bf16 product that reads it; the statistics are fp32 either way.
    static func layerNormRows(_ x: UnsafePointer<Float>, rows: Int, cols: Int, _ w: LayerNormWeights,
                              out: UnsafeMutableRawPointer, bf16: Bool) {
        w.gamma.withUnsafeBufferPointer { g in
            w.beta.withUnsafeBufferPointer { b in
                guard let G = g.baseAddress, let B = b.baseAddress else { return }
                let xa = UInt(bitPattern: x), oa = UInt(bitPattern: out), ga = UInt(bitPattern: G), bb = UInt(bitPattern: B)
                let eps = w.eps
                NeuralKernels.parallelFor(rows, grain: max(1, 16384 / max(cols, 1))) { range in
                    guard let x = UnsafePointer<Float>(bitPattern: xa), let g = UnsafePointer<Float>(bitPattern: ga),
                          let b = UnsafePointer<Float>(bitPattern: bb) else { return }
                    let first = x + range.lowerBound * cols
                    if bf16, let out = UnsafeMutablePointer<UInt16>(bitPattern: oa) {
                        NeuralKernels.layerNorm(first, xStride: cols, rows: range.count, cols: cols,
                                                gamma: g, beta: b, eps: eps, out: out + range.lowerBound * cols, outStride: cols)
                    } else if let out = UnsafeMutablePointer<Float>(bitPattern: oa) {
                        NeuralKernels.layerNorm(first, xStride: cols, rows: range.count, cols: cols,
                                                gamma: g, beta: b, eps: eps, out: out + range.lowerBound * cols, outStride: cols)
                    }
                }
            }
        }
    }
}
