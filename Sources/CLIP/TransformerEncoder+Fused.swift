import Platform
import Tensor

/// The encoder through oneDNN, in the weights' precision: every product (the four projections
/// of a layer, and attention's `QKᵀ` and `P·V`) is one oneDNN matmul with fp32 accumulation, the
/// bias, activation and residual add fused in as post-ops computed in fp32; the residual stream,
/// the layer norms' statistics and the softmax stay fp32.
///
/// With bf16 weights the activations handed from one product to the next are bf16, without a
/// separate conversion pass: the layer norm writes its output rounded to bf16, the Q, K and V
/// projections write bf16 (each into its own `rows × hidden` block, the layout oneDNN's batched
/// kernels take for attention without a copy), `P·V` writes the heads' outputs in bf16, and the
/// first MLP projection writes `act(x·W₁ᵀ + b₁)` in bf16. With fp32 weights (where oneDNN runs
/// fp32 products) the same steps run with fp32 activations: one code path, two element types.
///
/// Every buffer is allocated per call (and per worker inside attention): towers are embedded
/// from several threads at once, and a scratch shared between calls once mixed one image's
/// activations into another's.
extension TransformerEncoder {
    /// The element type the fused path runs `weights` in, or nil where it does not run them (fp32
    /// weights while `ADANEG_FP32_PRODUCTS=openblas` or where oneDNN has no fp32 matmul: the
    /// OpenBLAS path in TransformerEncoder.swift then runs them).
    static func fusedElement(_ weights: EncoderWeights) -> MatmulOperand.Element? {
        guard !weights.layers.isEmpty else { return nil }
        if weights.productWeights.allSatisfy({ $0.precision == .bf16 }) { return .bf16 }
        guard weights.productWeights.allSatisfy({ $0.precision == .fp32 }), FP32Products.current == .oneDNN else { return nil }
        return .f32
    }

    /// `run` through oneDNN: same inputs, same output (the pooled rows' final hidden states, fp32).
    static func runFused(_ weights: EncoderWeights, element: MatmulOperand.Element, x: inout [Float], batch: Int, seq: Int,
                         causal: Bool, pooled: [Int]) -> [Float] {
        let d = weights.hidden
        let n = batch * seq
        let intermediate = weights.layers.map { $0.fc1.outFeatures }.max() ?? 0
        let size = element.size
        let normed = UnsafeMutableRawPointer.allocate(byteCount: n * d * size, alignment: 64)
        let qkv = UnsafeMutableRawPointer.allocate(byteCount: n * 3 * d * size, alignment: 64)
        let attended = UnsafeMutableRawPointer.allocate(byteCount: n * d * size, alignment: 64)
        let hidden = UnsafeMutableRawPointer.allocate(byteCount: n * intermediate * size, alignment: 64)
        defer { normed.deallocate(); qkv.deallocate(); attended.deallocate(); hidden.deallocate() }
        var y = [Float](repeating: 0, count: batch * d)
        let last = weights.layers.count - 1
        let buffers = FusedBuffers(element: element, normed: normed, qkv: qkv, attended: attended, hidden: hidden)
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                guard let X = xp.baseAddress, let Y = yp.baseAddress else { return }
                for (index, layer) in weights.layers.enumerated() where index < last {
                    fullLayerFused(layer, weights: weights, x: X, buffers, batch: batch, seq: seq, causal: causal)
                }
                pooledLayerFused(weights.layers[last], weights: weights, x: X, buffers, y: Y,
                                 batch: batch, seq: seq, causal: causal, pooled: pooled)
            }
        }
        return y
    }

    /// The per-call activations one layer passes between its products, in `element`.
    struct FusedBuffers {
        var element: MatmulOperand.Element
        /// `rows × hidden`: a layer norm's output.
        var normed: UnsafeMutableRawPointer
        /// `3 × rows × hidden`: the queries, then the keys, then the values.
        var qkv: UnsafeMutableRawPointer
        /// `rows × hidden`: the heads' outputs side by side.
        var attended: UnsafeMutableRawPointer
        /// `rows × intermediate`: the MLP's hidden activations.
        var hidden: UnsafeMutableRawPointer

        /// `base` advanced by `elements` elements.
        func at(_ base: UnsafeMutableRawPointer, _ elements: Int) -> UnsafeMutableRawPointer { base + elements * element.size }
    }

    // MARK: Layers

    static func fullLayerFused(_ layer: EncoderLayerWeights, weights: EncoderWeights, x: UnsafeMutablePointer<Float>, _ buf: FusedBuffers,
                               batch: Int, seq: Int, causal: Bool) {
        let d = weights.hidden
        let n = batch * seq
        let e = buf.element
        let (q, k, v) = (buf.qkv, buf.at(buf.qkv, n * d), buf.at(buf.qkv, 2 * n * d))
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: buf.normed, bf16: e == .bf16)
        for (part, out) in [q, k, v].enumerated() {
            product(buf.normed, rows: n, layer.qkv, rowRange: part * d ..< (part + 1) * d, into: out, e, ldc: d)
        }
        attentionFused(q: q, k: k, v: v, element: e, batch: batch, seq: seq, hidden: d, heads: weights.heads, causal: causal,
                       out: buf.attended)
        product(buf.attended, rows: n, layer.out, into: x, .f32, ldc: d, accumulate: true)
        layerNormRows(x, rows: n, cols: d, layer.norm2, out: buf.normed, bf16: e == .bf16)
        product(buf.normed, rows: n, layer.fc1, activation: weights.activation, into: buf.hidden, e, ldc: layer.fc1.outFeatures)
        product(buf.hidden, rows: n, layer.fc2, into: x, .f32, ldc: d, accumulate: true)
    }

    /// The last layer for the pooled rows only (see `pooledLayer`): keys and values from every
    /// row, the rest from one row per sequence, written to `y` (`batch × hidden`).
    static func pooledLayerFused(_ layer: EncoderLayerWeights, weights: EncoderWeights, x: UnsafePointer<Float>, _ buf: FusedBuffers,
                                 y: UnsafeMutablePointer<Float>, batch: Int, seq: Int, causal: Bool, pooled: [Int]) {
        let d = weights.hidden
        let n = batch * seq
        let heads = weights.heads
        let dh = d / heads
        let e = buf.element, size = e.size
        let (k, v) = (buf.at(buf.qkv, n * d), buf.at(buf.qkv, 2 * n * d))
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: buf.normed, bf16: e == .bf16)
        product(buf.normed, rows: n, layer.qkv, rowRange: d ..< 2 * d, into: k, e, ldc: d)
        product(buf.normed, rows: n, layer.qkv, rowRange: 2 * d ..< 3 * d, into: v, e, ldc: d)
        // The pooled rows' residual stream and normed inputs, packed; their queries go where the
        // full layers keep theirs.
        let pooledNormed = buf.attended, queries = buf.qkv
        for (b, p) in pooled.enumerated() {
            (y + b * d).update(from: x + (b * seq + p) * d, count: d)
            buf.at(pooledNormed, b * d).copyMemory(from: buf.at(buf.normed, (b * seq + p) * d), byteCount: d * size)
        }
        product(pooledNormed, rows: batch, layer.qkv, rowRange: 0 ..< d, into: queries, e, ldc: d)
        // One query row per sequence and head against all of the sequence's keys, in one batched
        // product; positions after the pooled token (causal) get probability zero.
        let scale = 1 / Float(dh).squareRoot()
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: batch * heads * seq)
        let probabilities = UnsafeMutableRawPointer.allocate(byteCount: batch * heads * seq * size, alignment: 64)
        defer { scores.deallocate(); probabilities.deallocate() }
        let threads = BLAS.threads
        OneDNNMatmul.shared.run(
            MatmulShape(outer: batch, batch: heads, m: 1, n: seq, k: dh,
                        src: MatmulOperand(e, outerStride: d, batchStride: dh, rowStride: d),
                        weights: MatmulOperand(e, outerStride: seq * d, batchStride: dh, rowStride: 1, colStride: d),
                        dst: MatmulOperand(.f32, outerStride: heads * seq, batchStride: seq, rowStride: seq), threads: threads),
            src: queries, weights: k, bias: nil, dst: scores)
        for (b, p) in pooled.enumerated() {
            for h in 0..<heads {
                let row = (b * heads + h) * seq
                softmaxRow(scores + row, count: seq, valid: causal ? p + 1 : seq, scale: scale, out: probabilities + row * size, e)
            }
        }
        let out = buf.normed // free again: the pooled inputs were copied out above
        OneDNNMatmul.shared.run(
            MatmulShape(outer: batch, batch: heads, m: 1, n: dh, k: seq,
                        src: MatmulOperand(e, outerStride: heads * seq, batchStride: seq, rowStride: seq),
                        weights: MatmulOperand(e, outerStride: seq * d, batchStride: dh, rowStride: d),
                        dst: MatmulOperand(e, outerStride: d, batchStride: dh, rowStride: d), threads: threads),
            src: probabilities, weights: v, bias: nil, dst: out)
        product(out, rows: batch, layer.out, into: y, .f32, ldc: d, accumulate: true)
        layerNormRows(y, rows: batch, cols: d, layer.norm2, out: buf.normed, bf16: e == .bf16)
        product(buf.normed, rows: batch, layer.fc1, activation: weights.activation, into: buf.hidden, e, ldc: layer.fc1.outFeatures)
        product(buf.hidden, rows: batch, layer.fc2, into: y, .f32, ldc: d, accumulate: true)
    }

    // MARK: Attention

    /// Multi-head self-attention over queries, keys and values of `element` (`rows × hidden`
    /// each, heads side by side), writing the heads' outputs side by side into `out` (`element`,
    /// `hidden` wide).
    ///
    /// Sequences go in chunks: per chunk one batched `QKᵀ` over its sequences and heads (fp32
    /// scores), an fp32 softmax per row written as `element` probabilities, one batched `P·V`. A
    /// chunk holds as many sequences as keep its scores near 1 MB (one 197-token image; a whole
    /// batch of short prompts, where one product per sequence would cost more in call overhead
    /// than in arithmetic). Chunks are split over the cores, each worker with its own scores,
    /// each product on its worker's thread alone.
    static func attentionFused(q: UnsafeMutableRawPointer, k: UnsafeMutableRawPointer, v: UnsafeMutableRawPointer,
                               element e: MatmulOperand.Element, batch: Int, seq: Int, hidden d: Int, heads: Int, causal: Bool,
                               out: UnsafeMutableRawPointer) {
        let dh = d / heads
        let size = e.size
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
            let rows = MatmulOperand(e, outerStride: seq * d, batchStride: dh, rowStride: d)
            let transposed = MatmulOperand(e, outerStride: seq * d, batchStride: dh, rowStride: 1, colStride: d)
            let scores = MatmulOperand(.f32, outerStride: perSequence, batchStride: seq * seq, rowStride: seq)
            let probabilities = MatmulOperand(e, outerStride: perSequence, batchStride: seq * seq, rowStride: seq)
            return (MatmulShape(outer: count, batch: heads, m: seq, n: seq, k: dh, src: rows, weights: transposed, dst: scores, threads: threads),
                    MatmulShape(outer: count, batch: heads, m: seq, n: dh, k: seq, src: probabilities, weights: rows, dst: rows, threads: threads))
        }
        let qa = UInt(bitPattern: q), ka = UInt(bitPattern: k), va = UInt(bitPattern: v), oa = UInt(bitPattern: out)
        NeuralKernels.perWorker(workers) { w in
            guard let q = UnsafeRawPointer(bitPattern: qa), let k = UnsafeRawPointer(bitPattern: ka),
                  let v = UnsafeRawPointer(bitPattern: va), let out = UnsafeMutableRawPointer(bitPattern: oa) else { return }
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: chunk * perSequence)
            let probabilities = UnsafeMutableRawPointer.allocate(byteCount: chunk * perSequence * size, alignment: 64)
            defer { scores.deallocate(); probabilities.deallocate() }
            for c in (w * perWorker) ..< min(chunks, (w + 1) * perWorker) {
                let first = c * chunk
                let count = min(chunk, batch - first)
                let (scoresShape, valuesShape) = shapes(count)
                let offset = first * seq * d * size
                OneDNNMatmul.shared.run(scoresShape, src: q + offset, weights: k + offset, bias: nil, dst: scores)
                for r in 0..<(count * heads * seq) {
                    let i = r % seq
                    softmaxRow(scores + r * seq, count: seq, valid: causal ? i + 1 : seq, scale: scale,
                               out: probabilities + r * seq * size, e)
                }
                OneDNNMatmul.shared.run(valuesShape, src: probabilities, weights: v + offset, bias: nil, dst: out + offset)
            }
        }
    }

    /// `out = softmax(scale · row[0..<valid])` as `element` (in place for fp32), zero for the
    /// `count − valid` masked positions.
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count: Int, valid: Int, scale: Float, out: UnsafeMutableRawPointer,
                           _ element: MatmulOperand.Element) {
        NeuralKernels.scaledSoftmax(row, count: valid, scale: scale)
        if valid < count { (row + valid).update(repeating: 0, count: count - valid) }
        switch element {
        case .bf16: BFloat16.convert(row, to: out.assumingMemoryBound(to: UInt16.self), count: count)
        case .f32: if UnsafeMutableRawPointer(row) != out { out.copyMemory(from: row, byteCount: count * 4) }
        }
    }

    // MARK: Building blocks

    /// `into = act(a · W[rowRange]ᵀ + b[rowRange]) (+ into)`, bias, activation and residual inside
    /// oneDNN's kernel; `a` has row stride `W.cols` and the weights' element type.
    static func product(_ a: UnsafeRawPointer, rows: Int, _ l: Linear, rowRange: Range<Int>? = nil, activation: Activation? = nil,
                        into out: UnsafeMutableRawPointer, _ element: MatmulOperand.Element, ldc: Int, accumulate: Bool = false) {
        let range = rowRange ?? 0..<l.outFeatures
        l.bias.withUnsafeBufferPointer { b in
            guard let B = b.baseAddress else { return }
            WeightProducts.fused(a, lda: l.inFeatures, rows: rows, l.weight, rowRange: range, bias: B + range.lowerBound,
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
}
