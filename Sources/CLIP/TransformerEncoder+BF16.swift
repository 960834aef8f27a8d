import Dispatch
import Platform
import Tensor

/// The encoder with bf16 weights: every product (the four projections of a layer, and attention's
/// `QKᵀ` and `P·V`) runs in bf16 through oneDNN with fp32 accumulation, while the residual
/// stream, the layer norms' statistics and the softmax stay fp32.
///
/// Activations are handed from one product to the next in bf16 without a separate conversion
/// pass: the layer norm writes its output rounded to bf16, the Q, K and V projections write bf16
/// (each into its own `rows × hidden` block, the layout oneDNN's batched bf16 kernels take for
/// attention without a copy), `P·V` writes the heads' outputs in bf16, and the first MLP
/// projection writes `act(x·W₁ᵀ + b₁)` in bf16. Biases, the activation and the residual adds are
/// oneDNN post-ops, computed in fp32 inside the kernel.
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
        /// `3 × rows × hidden`: the queries, then the keys, then the values.
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
        let (q, k, v) = (buf.qkv, buf.qkv + n * d, buf.qkv + 2 * n * d)
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: buf.normed)
        for (part, out) in [q, k, v].enumerated() {
            product(buf.normed, rows: n, layer.qkv, rowRange: part * d ..< (part + 1) * d, into: out, .bf16, ldc: d)
        }
        attentionBF16(q: q, k: k, v: v, batch: batch, seq: seq, hidden: d, heads: weights.heads, causal: causal, out: buf.attended)
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
        let (k, v) = (buf.qkv + n * d, buf.qkv + 2 * n * d)
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: buf.normed)
        product(buf.normed, rows: n, layer.qkv, rowRange: d ..< 2 * d, into: k, .bf16, ldc: d)
        product(buf.normed, rows: n, layer.qkv, rowRange: 2 * d ..< 3 * d, into: v, .bf16, ldc: d)
        // The pooled rows' residual stream and normed inputs, packed; their queries go where the
        // full layers keep theirs.
        let pooledNormed = buf.attended, queries = buf.qkv
        for (b, p) in pooled.enumerated() {
            (y + b * d).update(from: x + (b * seq + p) * d, count: d)
            (pooledNormed + b * d).update(from: buf.normed + (b * seq + p) * d, count: d)
        }
        product(pooledNormed, rows: batch, layer.qkv, rowRange: 0 ..< d, into: queries, .bf16, ldc: d)
        // One query row per sequence and head against all of the sequence's keys, in one batched
        // product; positions after the pooled token (causal) get probability zero.
        let scale = 1 / Float(dh).squareRoot()
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: batch * heads * seq)
        let probabilities = UnsafeMutablePointer<UInt16>.allocate(capacity: batch * heads * seq)
        defer { scores.deallocate(); probabilities.deallocate() }
        let threads = BLAS.threads
        OneDNNMatmul.shared.run(
            MatmulShape(outer: batch, batch: heads, m: 1, n: seq, k: dh,
                        src: MatmulOperand(.bf16, outerStride: d, batchStride: dh, rowStride: d),
                        weights: MatmulOperand(.bf16, outerStride: seq * d, batchStride: dh, rowStride: 1, colStride: d),
                        dst: MatmulOperand(.f32, outerStride: heads * seq, batchStride: seq, rowStride: seq), threads: threads),
            src: queries, weights: k, bias: nil, dst: scores)
        for (b, p) in pooled.enumerated() {
            for h in 0..<heads {
                let row = (b * heads + h) * seq
                softmaxToBF16(scores + row, count: seq, valid: causal ? p + 1 : seq, scale: scale, out: probabilities + row)
            }
        }
        let out = buf.normed // free again: the pooled inputs were copied out above
        OneDNNMatmul.shared.run(
            MatmulShape(outer: batch, batch: heads, m: 1, n: dh, k: seq,
                        src: MatmulOperand(.bf16, outerStride: heads * seq, batchStride: seq, rowStride: seq),
                        weights: MatmulOperand(.bf16, outerStride: seq * d, batchStride: dh, rowStride: d),
                        dst: MatmulOperand(.bf16, outerStride: d, batchStride: dh, rowStride: d), threads: threads),
            src: probabilities, weights: v, bias: nil, dst: out)
        product(out, rows: batch, layer.out, into: y, .f32, ldc: d, accumulate: true)
        layerNormRows(y, rows: batch, cols: d, layer.norm2, out: buf.normed)
        product(buf.normed, rows: batch, layer.fc1, activation: weights.activation, into: buf.hidden, .bf16, ldc: layer.fc1.outFeatures)
        product(buf.hidden, rows: batch, layer.fc2, into: y, .f32, ldc: d, accumulate: true)
    }

    // MARK: Attention

    /// Multi-head self-attention over bf16 queries, keys and values (`rows × hidden` each, heads
    /// side by side), writing the heads' outputs side by side into `out` (bf16, `hidden` wide).
    ///
    /// Sequences go in chunks: per chunk one batched `QKᵀ` over its sequences and heads (fp32
    /// scores), an fp32 softmax per row written as bf16 probabilities, one batched `P·V`. A chunk
    /// holds as many sequences as keep its scores near 1 MB (one 197-token image; a whole batch of
    /// short prompts, where one product per sequence would cost more in call overhead than in
    /// arithmetic). Chunks are split over the cores, each worker with its own scores.
    static func attentionBF16(q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>, batch: Int, seq: Int,
                              hidden d: Int, heads: Int, causal: Bool, out: UnsafeMutablePointer<UInt16>) {
        let dh = d / heads
        let scale = 1 / Float(dh).squareRoot()
        let perSequence = heads * seq * seq
        let chunk = max(1, min(batch, (1 << 18) / max(1, perSequence)))
        let chunks = (batch + chunk - 1) / chunk
        let workers = max(1, min(NeuralKernels.activeProcessorCount, chunks))
        let threads = max(1, BLAS.threads / workers)
        let perWorker = (chunks + workers - 1) / workers
        // Q is read as `[sequence, head, position, dh]`, Kᵀ as `[sequence, head, dh, position]`,
        // both in place in their `rows × hidden` blocks; so are V and the output.
        @Sendable func shapes(_ count: Int) -> (scores: MatmulShape, values: MatmulShape) {
            let rows = MatmulOperand(.bf16, outerStride: seq * d, batchStride: dh, rowStride: d)
            let transposed = MatmulOperand(.bf16, outerStride: seq * d, batchStride: dh, rowStride: 1, colStride: d)
            let scores = MatmulOperand(.f32, outerStride: perSequence, batchStride: seq * seq, rowStride: seq)
            let probabilities = MatmulOperand(.bf16, outerStride: perSequence, batchStride: seq * seq, rowStride: seq)
            return (MatmulShape(outer: count, batch: heads, m: seq, n: seq, k: dh, src: rows, weights: transposed, dst: scores, threads: threads),
                    MatmulShape(outer: count, batch: heads, m: seq, n: dh, k: seq, src: probabilities, weights: rows, dst: rows, threads: threads))
        }
        let qa = UInt(bitPattern: q), ka = UInt(bitPattern: k), va = UInt(bitPattern: v), oa = UInt(bitPattern: out)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            guard let q = UnsafePointer<UInt16>(bitPattern: qa), let k = UnsafePointer<UInt16>(bitPattern: ka),
                  let v = UnsafePointer<UInt16>(bitPattern: va), let out = UnsafeMutablePointer<UInt16>(bitPattern: oa) else { return }
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: chunk * perSequence)
            let probabilities = UnsafeMutablePointer<UInt16>.allocate(capacity: chunk * perSequence)
            defer { scores.deallocate(); probabilities.deallocate() }
            for c in (w * perWorker) ..< min(chunks, (w + 1) * perWorker) {
                let first = c * chunk
                let count = min(chunk, batch - first)
                let (scoresShape, valuesShape) = shapes(count)
                let offset = first * seq * d
                OneDNNMatmul.shared.run(scoresShape, src: q + offset, weights: k + offset, bias: nil, dst: scores)
                for r in 0..<(count * heads * seq) {
                    let i = r % seq
                    softmaxToBF16(scores + r * seq, count: seq, valid: causal ? i + 1 : seq, scale: scale, out: probabilities + r * seq)
                }
                OneDNNMatmul.shared.run(valuesShape, src: probabilities, weights: v + offset, bias: nil, dst: out + offset)
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
        layerNormRows(x, rows: rows, cols: cols, w, out: UnsafeMutableRawPointer(out), bf16: true)
    }
}
