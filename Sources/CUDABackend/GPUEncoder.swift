/// The transformer stack of both towers on a device, as `TransformerEncoder` computes it on the
/// CPU: `x += out(attn(LN1(x)))`, `x += fc2(act(fc1(LN2(x))))`, then the pooled rows through the
/// final norm, the fp32 projection and L2 normalisation. Every product goes through
/// `DeviceLayer.gemm` (cuBLAS on a GPU), attention as two strided-batched products over all
/// (sequence, head) pairs; the last layer computes every row (the CPU computes only the pooled
/// ones; the pooled rows' values are the same).
enum GPUEncoder {
    /// `C = X · Wᵀ (+ C)`: the product of a linear layer over `rows` rows.
    static func linear(_ device: any DeviceLayer, _ x: DeviceBuffer, rows: Int, _ w: DeviceLinear, into c: DeviceBuffer,
                       accumulate: Bool = false) throws(GPUError) {
        try device.gemm(GemmCall(m: rows, n: w.outFeatures, k: w.inFeatures,
                                 a: GemmOperand(x, ld: w.inFeatures, type: .low),
                                 b: GemmOperand(w.weight, ld: w.inFeatures, type: .low), transB: true,
                                 c: GemmOperand(c, ld: w.outFeatures, type: .f32), beta: accumulate ? 1 : 0))
    }

    /// Runs every layer over `ws.x` (`batch·seq × hidden`, fp32).
    static func layers(_ device: any DeviceLayer, _ e: DeviceEncoder, _ ws: EncoderWorkspace, batch: Int, seq: Int, causal: Bool) throws(GPUError) {
        let n = batch * seq, d = e.hidden, heads = e.heads, dh = d / heads
        let pairs = batch * heads
        for l in e.layers {
            try device.launch(.layerNorm(x: ws.x, gamma: l.norm1.gamma, beta: l.norm1.beta, outF: nil, outLow: ws.normed, rows: n, cols: d, eps: l.norm1.eps))
            try linear(device, ws.normed, rows: n, l.qkv, into: ws.wide)
            try device.launch(.splitHeads(qkv: ws.wide, bias: l.qkv.bias, q: ws.q, k: ws.k, v: ws.v, batch: batch, seq: seq, heads: heads, headDim: dh))
            // S = Q Kᵀ / sqrt(dh), per (sequence, head)
            try device.gemm(GemmCall(m: seq, n: seq, k: dh,
                                     a: GemmOperand(ws.q, ld: dh, stride: seq * dh, type: .low),
                                     b: GemmOperand(ws.k, ld: dh, stride: seq * dh, type: .low), transB: true,
                                     c: GemmOperand(ws.scores, ld: seq, stride: seq * seq, type: .f32),
                                     alpha: 1 / Float(dh).squareRoot(), batch: pairs))
            try device.launch(.softmax(scores: ws.scores, probs: ws.probs, rows: pairs * seq, seq: seq, causal: causal))
            // O = P V
            try device.gemm(GemmCall(m: seq, n: dh, k: seq,
                                     a: GemmOperand(ws.probs, ld: seq, stride: seq * seq, type: .low),
                                     b: GemmOperand(ws.v, ld: dh, stride: seq * dh, type: .low),
                                     c: GemmOperand(ws.o, ld: dh, stride: seq * dh, type: .f32), batch: pairs))
            try device.launch(.mergeHeads(o: ws.o, out: ws.attended, batch: batch, seq: seq, heads: heads, headDim: dh))
            try device.launch(.addBias(x: ws.x, bias: l.out.bias, rows: n, cols: d))
            try linear(device, ws.attended, rows: n, l.out, into: ws.x, accumulate: true)
            // MLP
            try device.launch(.layerNorm(x: ws.x, gamma: l.norm2.gamma, beta: l.norm2.beta, outF: nil, outLow: ws.normed, rows: n, cols: d, eps: l.norm2.eps))
            try linear(device, ws.normed, rows: n, l.fc1, into: ws.wide)
            try device.launch(.biasActivation(input: ws.wide, bias: l.fc1.bias, out: ws.act, rows: n, cols: l.fc1.outFeatures, activation: e.activation))
            try device.launch(.addBias(x: ws.x, bias: l.fc2.bias, rows: n, cols: d))
            try linear(device, ws.act, rows: n, l.fc2, into: ws.x, accumulate: true)
        }
    }

    /// Rows `ws.indices` of `ws.x` through `norm`, the projection (fp32, `projectionDim × hidden`)
    /// and L2 normalisation, into `ws.features` (`batch × projectionDim`).
    static func head(_ device: any DeviceLayer, _ ws: EncoderWorkspace, batch: Int, hidden d: Int, norm: DeviceLayerNorm,
                     projection: DeviceBuffer, projectionDim: Int) throws(GPUError) {
        try device.launch(.gatherRows(x: ws.x, rows: ws.indices, out: ws.pooled, count: batch, cols: d))
        try device.launch(.layerNorm(x: ws.pooled, gamma: norm.gamma, beta: norm.beta, outF: ws.pooledNorm, outLow: nil, rows: batch, cols: d, eps: norm.eps))
        try device.gemm(GemmCall(m: batch, n: projectionDim, k: d,
                                 a: GemmOperand(ws.pooledNorm, ld: d, type: .f32),
                                 b: GemmOperand(projection, ld: d, type: .f32), transB: true,
                                 c: GemmOperand(ws.features, ld: projectionDim, type: .f32)))
        try device.launch(.l2Normalize(x: ws.features, rows: batch, cols: projectionDim))
    }
}

/// How many items a batch holds: asked for, or what fits in `fraction` of the free memory
/// (at most `cap`); halved after an out-of-memory.
public struct BatchSizer: Sendable, Equatable {
    public private(set) var size: Int
    public init(requested: Int?, perItemBytes: Int, freeBytes: Int?, cap: Int = 256, fraction: Double = 0.8) {
        if let requested { size = max(1, requested); return }
        guard let freeBytes, perItemBytes > 0 else { size = min(cap, 32); return }
        size = max(1, min(cap, Int(Double(freeBytes) * fraction) / perItemBytes))
    }

    /// Halves the size; false when it already is 1 (nothing smaller to try).
    public mutating func shrink() -> Bool {
        guard size > 1 else { return false }
        size /= 2
        return true
    }
}
