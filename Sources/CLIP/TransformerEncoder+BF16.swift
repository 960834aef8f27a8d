import Dispatch
import Platform
import Tensor

/// The encoder with bf16 weights: every product (the four projections of a layer, and attention's
/// `QKᵀ` and `P·V`) runs in bf16 through oneDNN with fp32 accumulation, while the residual
/// stream, the layer norms' statistics and the softmax stay fp32.
///
/// Activations are handed from one product to the next in bf16 without a separate conversion
/// pass: the layer norm writes its output rounded to bf16, the fused QKV projection writes bf16
/// (attention reads queries, keys and values from it in place), `P·V` writes the heads' outputs
/// in bf16, and the first MLP projection writes `act(x·W₁ᵀ + b₁)` in bf16. Biases, the
/// activation and the residual adds are oneDNN post-ops, computed in fp32 inside the kernel.
///
/// Every buffer is allocated per call (and per worker inside attention): towers are embedded
/// from several threads at once, and a scratch shared between calls once mixed one image's
/// activations into another's.
extension TransformerEncoder {
    /// True when the stack's product weights are bf16, so `runBF16` computes it.
    static func isBF16(_ weights: EncoderWeights) -> Bool {
        !weights.layers.isEmpty && weights.productWeights.allSatisfy { $0.precision == .bf16 }
    }

    /// `run` for bf16 weights: same inputs, same output (the pooled rows' final hidden states, fp32).
    static func runBF16(_ weights: EncoderWeights, x: inout [Float], batch: Int, seq: Int, causal: Bool, pooled: [Int]) -> [Float] {
        let d = weights.hidden
        let n = batch * seq
        let intermediate = weights.layers.map { $0.fc1.outFeatures }.max() ?? 0
        var normed = [UInt16](repeating: 0, count: n * d)
        var qkv = [UInt16](repeating: 0, count: n * 3 * d)
        var attended = [UInt16](repeating: 0, count: n * d)
        var hidden = [UInt16](repeating: 0, count: n * intermediate)
        var y = [Float](repeating: 0, count: batch * d)
        let last = weights.layers.count - 1
        x.withUnsafeMutableBufferPointer { xp in
            normed.withUnsafeMutableBufferPointer { np in
                qkv.withUnsafeMutableBufferPointer { qp in
                    attended.withUnsafeMutableBufferPointer { ap in
                        hidden.withUnsafeMutableBufferPointer { hp in
                            y.withUnsafeMutableBufferPointer { yp in
                                guard let X = xp.baseAddress, let N = np.baseAddress, let QKV = qp.baseAddress,
                                      let A = ap.baseAddress, let H = hp.baseAddress, let Y = yp.baseAddress else { return }
                                let buffers = BF16Buffers(normed: N, qkv: QKV, attended: A, hidden: H)
                                for (index, layer) in weights.layers.enumerated() where index < last {
                                    fullLayerBF16(layer, weights: weights, x: X, buffers, batch: batch, seq: seq, causal: causal)
                                }
                                pooledLayerBF16(weights.layers[last], weights: weights, x: X, buffers, y: Y,
                                                batch: batch, seq: seq, causal: causal, pooled: pooled)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// The per-call bf16 activations one layer passes between its products.
    struct BF16Buffers {
        /// `rows × hidden`: a layer norm's output.
        var normed: UnsafeMutablePointer<UInt16>
        /// `rows × 3·hidden`: `[Q | K | V]` (the last layer: `[K | V]`, `2·hidden` wide).
        var qkv: UnsafeMutablePointer<UInt16>
        /// `rows × hidden`: the heads' outputs side by side.
        var attended: UnsafeMutablePointer<UInt16>
        /// `rows × intermediate`: the MLP's hidden activations.
        var hidden: UnsafeMutablePointer<UInt16>
    }

    // MARK: Layers

    static func fullLayerBF16(_ layer: EncoderLayerWeights, weights: EncoderWeights, x: UnsafeMutablePointer<Float>, _ buf: BF16Buffers,
                              batch: Int, seq: Int, causal: Bool) {
        let d = weights.hidden
        let n = batch * seq
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: buf.normed)
        product(buf.normed, rows: n, layer.qkv, into: buf.qkv, .bf16, ldc: 3 * d)
        attentionBF16(qkv: buf.qkv, batch: batch, seq: seq, hidden: d, heads: weights.heads, causal: causal, out: buf.attended)
        product(buf.attended, rows: n, layer.out, into: x, .f32, ldc: d, accumulate: true)
        layerNormRows(x, rows: n, cols: d, layer.norm2, out: buf.normed)
        product(buf.normed, rows: n, layer.fc1, activation: weights.activation, into: buf.hidden, .bf16, ldc: layer.fc1.outFeatures)
        product(buf.hidden, rows: n, layer.fc2, into: x, .f32, ldc: d, accumulate: true)
    }

    /// The last layer for the pooled rows only (see `pooledLayer`): keys and values from every
    /// row, the rest from one row per sequence, written to `y` (`batch × hidden`).
    static func pooledLayerBF16(_ layer: EncoderLayerWeights, weights: EncoderWeights, x: UnsafePointer<Float>, _ buf: BF16Buffers,
                                y: UnsafeMutablePointer<Float>, batch: Int, seq: Int, causal: Bool, pooled: [Int]) {
        let d = weights.hidden
        let n = batch * seq
        let heads = weights.heads
        let dh = d / heads
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: buf.normed)
        let kv = buf.qkv
        product(buf.normed, rows: n, layer.qkv, rowRange: d ..< 3 * d, into: kv, .bf16, ldc: 2 * d)
        // The pooled rows' residual stream and normed inputs, packed (`attended` holds them for
        // the query projection; `hidden` then holds the queries).
        let pooledNormed = buf.attended, queries = buf.hidden
        for (b, p) in pooled.enumerated() {
            (y + b * d).update(from: x + (b * seq + p) * d, count: d)
            (pooledNormed + b * d).update(from: buf.normed + (b * seq + p) * d, count: d)
        }
        product(pooledNormed, rows: batch, layer.qkv, rowRange: 0 ..< d, into: queries, .bf16, ldc: d)
        // One query row per sequence and head, over that sequence's keys (up to the pooled
        // token when causal). Tiny products: one thread each, sequence after sequence.
        let scale = 1 / Float(dh).squareRoot()
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: heads * seq)
        let probabilities = UnsafeMutablePointer<UInt16>.allocate(capacity: heads * seq)
        defer { scores.deallocate(); probabilities.deallocate() }
        let out = buf.normed // free again: the pooled inputs were copied out above
        for (b, p) in pooled.enumerated() {
            let length = causal ? p + 1 : seq
            let keys = kv + b * seq * 2 * d
            OneDNNMatmul.shared.run(
                MatmulShape(batch: heads, m: 1, n: length, k: dh,
                            src: MatmulOperand(.bf16, batchStride: dh, rowStride: d),
                            weights: MatmulOperand(.bf16, batchStride: dh, rowStride: 1, colStride: 2 * d),
                            dst: MatmulOperand(.f32, batchStride: length, rowStride: length), threads: 1),
                src: queries + b * d, weights: keys, bias: nil, dst: scores)
            for h in 0..<heads {
                softmaxToBF16(scores + h * length, count: length, valid: length, scale: scale, out: probabilities + h * length)
            }
            OneDNNMatmul.shared.run(
                MatmulShape(batch: heads, m: 1, n: dh, k: length,
                            src: MatmulOperand(.bf16, batchStride: length, rowStride: length),
                            weights: MatmulOperand(.bf16, batchStride: dh, rowStride: 2 * d),
                            dst: MatmulOperand(.bf16, batchStride: dh, rowStride: d), threads: 1),
                src: probabilities, weights: keys + d, bias: nil, dst: out + b * d)
        }
        product(out, rows: batch, layer.out, into: y, .f32, ldc: d, accumulate: true)
        layerNormRows(y, rows: batch, cols: d, layer.norm2, out: buf.normed)
        product(buf.normed, rows: batch, layer.fc1, activation: weights.activation, into: buf.hidden, .bf16, ldc: layer.fc1.outFeatures)
        product(buf.hidden, rows: batch, layer.fc2, into: y, .f32, ldc: d, accumulate: true)
    }

    // MARK: Attention

    /// Multi-head self-attention over the fused bf16 `[Q | K | V]` rows, writing the heads' outputs
    /// side by side into `out` (bf16, `hidden` wide). Per sequence: one batched `QKᵀ` over its
    /// heads (fp32 scores), an fp32 softmax per row written as bf16 probabilities, one batched
    /// `P·V`; both products read Q, K and V in place through strides. Sequences are split over
    /// the cores, each product on one thread, each worker with its own scores.
    static func attentionBF16(qkv: UnsafePointer<UInt16>, batch: Int, seq: Int, hidden d: Int, heads: Int,
                              causal: Bool, out: UnsafeMutablePointer<UInt16>) {
        let dh = d / heads
        let scale = 1 / Float(dh).squareRoot()
        let workers = max(1, min(NeuralKernels.activeProcessorCount, batch))
        let threads = max(1, BLAS.threads / workers)
        let perWorker = (batch + workers - 1) / workers
        let scoresShape = MatmulShape(batch: heads, m: seq, n: seq, k: dh,
                                      src: MatmulOperand(.bf16, batchStride: dh, rowStride: 3 * d),
                                      weights: MatmulOperand(.bf16, batchStride: dh, rowStride: 1, colStride: 3 * d),
                                      dst: MatmulOperand(.f32, batchStride: seq * seq, rowStride: seq), threads: threads)
        let valuesShape = MatmulShape(batch: heads, m: seq, n: dh, k: seq,
                                      src: MatmulOperand(.bf16, batchStride: seq * seq, rowStride: seq),
                                      weights: MatmulOperand(.bf16, batchStride: dh, rowStride: 3 * d),
                                      dst: MatmulOperand(.bf16, batchStride: dh, rowStride: d), threads: threads)
        let qkvAddress = UInt(bitPattern: qkv), outAddress = UInt(bitPattern: out)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            guard let qkv = UnsafePointer<UInt16>(bitPattern: qkvAddress),
                  let out = UnsafeMutablePointer<UInt16>(bitPattern: outAddress) else { return }
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: heads * seq * seq)
            let probabilities = UnsafeMutablePointer<UInt16>.allocate(capacity: heads * seq * seq)
            defer { scores.deallocate(); probabilities.deallocate() }
            for b in (w * perWorker) ..< min(batch, (w + 1) * perWorker) {
                let rows = qkv + b * seq * 3 * d
                OneDNNMatmul.shared.run(scoresShape, src: rows, weights: rows + d, bias: nil, dst: scores)
                for r in 0..<(heads * seq) {
                    let i = r % seq
                    softmaxToBF16(scores + r * seq, count: seq, valid: causal ? i + 1 : seq, scale: scale,
                                  out: probabilities + r * seq)
                }
                OneDNNMatmul.shared.run(valuesShape, src: probabilities, weights: rows + 2 * d, bias: nil, dst: out + b * seq * d)
            }
        }
    }

    /// `out = bf16(softmax(scale · row[0..<valid]))`, zero for the `count − valid` masked positions.
    static func softmaxToBF16(_ row: UnsafeMutablePointer<Float>, count: Int, valid: Int, scale: Float, out: UnsafeMutablePointer<UInt16>) {
        NeuralKernels.scaledSoftmax(row, count: valid, scale: scale)
        if valid < count { (row + valid).update(repeating: 0, count: count - valid) }
        BFloat16.convert(row, to: out, count: count)
    }

    // MARK: Building blocks

    /// `into = act(a · W[rowRange]ᵀ + b[rowRange]) (+ into)`, bias, activation and residual inside
    /// oneDNN's kernel; `a` has row stride `W.cols`.
    static func product(_ a: UnsafePointer<UInt16>, rows: Int, _ l: Linear, rowRange: Range<Int>? = nil, activation: Activation? = nil,
                        into out: UnsafeMutableRawPointer, _ element: MatmulOperand.Element, ldc: Int, accumulate: Bool = false) {
        let range = rowRange ?? 0..<l.outFeatures
        l.bias.withUnsafeBufferPointer { b in
            guard let B = b.baseAddress else { return }
            WeightProducts.fusedBF16(a, lda: l.inFeatures, rows: rows, l.weight, rowRange: range, bias: B + range.lowerBound,
                                     activation: activation.map(matmulActivation), into: out, element: element, ldc: ldc,
                                     accumulate: accumulate)
        }
    }

    static func matmulActivation(_ activation: Activation) -> MatmulActivation {
        switch activation {
        case .quickGELU: .quickGELU
        case .gelu: .gelu
        case .geluTanh: .geluTanh
        case .relu: .relu
        }
    }

    /// Layer norm of fp32 rows written as bf16 (statistics in fp32), split over the cores.
    static func layerNormRows(_ x: UnsafePointer<Float>, rows: Int, cols: Int, _ w: LayerNormWeights, out: UnsafeMutablePointer<UInt16>) {
        let oa = UInt(bitPattern: out)
        forEachRowRange(x, rows: rows, cols: cols, w) { x, range, gamma, beta in
            guard let out = UnsafeMutablePointer<UInt16>(bitPattern: oa) else { return }
            NeuralKernels.layerNorm(x + range.lowerBound * cols, xStride: cols, rows: range.count, cols: cols,
                                    gamma: gamma, beta: beta, eps: w.eps, out: out + range.lowerBound * cols, outStride: cols)
        }
    }
}
