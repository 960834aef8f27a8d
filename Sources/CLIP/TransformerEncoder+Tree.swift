import Tensor

/// The causal encoder over a trie of token sequences (`TokenTrie`): every node is one row, and a
/// node attends to the path from the root to itself, which is its causal context in every
/// sequence through it. So a prefix shared by many prompts (a template's "The nice", a word's
/// first pieces) is computed once instead of once per prompt, and the pooled rows (each
/// sequence's end-of-text node) are exactly what the padded per-sequence encoder computes.
///
/// The products are the fused path's (`product`: oneDNN, bias, activation and residual inside
/// the kernel, packed weights); attention is `treeAttention` here, since every row has its own
/// set of keys. As in `runFused`, the last layer computes keys and values for every node and
/// the rest only for the pooled ones.
extension TransformerEncoder {
    /// Rows of a chunk are padded to a multiple of this (with lone root nodes no sequence pools),
    /// so the products see a bounded set of row counts: oneDNN caches one primitive per shape.
    static let treeRowQuantum = 64

    /// Runs every layer over `x` (`chunk.count × hidden`, the nodes' embeddings, overwritten)
    /// and returns the final hidden state of each of `pooled` (node indices), `pooled.count × hidden`.
    static func runTree(_ weights: EncoderWeights, element e: MatmulOperand.Element, x: UnsafeMutablePointer<Float>,
                        chunk: TokenTrie.Chunk, pooled: [Int]) -> [Float] {
        let d = weights.hidden
        let n = chunk.count
        let intermediate = weights.layers.map { $0.fc1.outFeatures }.max() ?? 0
        let size = e.size
        // Identical sequences share their pooled node, so there may be more pooled rows than nodes.
        let m = max(n, pooled.count)
        let normed = UnsafeMutableRawPointer.allocate(byteCount: m * d * size, alignment: 64)
        let qkv = UnsafeMutableRawPointer.allocate(byteCount: n * 3 * d * size, alignment: 64)
        let attended = UnsafeMutableRawPointer.allocate(byteCount: m * d * size, alignment: 64)
        let pooledQueries = UnsafeMutableRawPointer.allocate(byteCount: pooled.count * d * size, alignment: 64)
        let hidden = UnsafeMutableRawPointer.allocate(byteCount: m * intermediate * size, alignment: 64)
        defer { normed.deallocate(); qkv.deallocate(); attended.deallocate(); pooledQueries.deallocate(); hidden.deallocate() }
        let buf = FusedBuffers(element: e, normed: normed, qkv: qkv, attended: attended, hidden: hidden)
        let (q, k, v) = (qkv, buf.at(qkv, n * d), buf.at(qkv, 2 * n * d))
        let everyNode = Array(0..<n)
        let last = weights.layers.count - 1
        for (index, layer) in weights.layers.enumerated() where index < last {
            layerNormRows(x, rows: n, cols: d, layer.norm1, out: normed, bf16: e == .bf16)
            for (part, out) in [q, k, v].enumerated() {
                product(normed, rows: n, layer.qkv, rowRange: part * d ..< (part + 1) * d, into: out, e, ldc: d)
            }
            treeAttention(q: q, k: k, v: v, element: e, hidden: d, heads: weights.heads, chunk: chunk, nodes: everyNode, out: attended)
            product(attended, rows: n, layer.out, into: x, .f32, ldc: d, accumulate: true)
            layerNormRows(x, rows: n, cols: d, layer.norm2, out: normed, bf16: e == .bf16)
            product(normed, rows: n, layer.fc1, activation: weights.activation, into: hidden, e, ldc: layer.fc1.outFeatures)
            product(hidden, rows: n, layer.fc2, into: x, .f32, ldc: d, accumulate: true)
        }
        // Last layer: keys and values of every node, the rest for the pooled nodes only.
        let layer = weights.layers[last]
        let p = pooled.count
        var y = [Float](repeating: 0, count: p * d)
        layerNormRows(x, rows: n, cols: d, layer.norm1, out: normed, bf16: e == .bf16)
        product(normed, rows: n, layer.qkv, rowRange: d ..< 2 * d, into: k, e, ldc: d)
        product(normed, rows: n, layer.qkv, rowRange: 2 * d ..< 3 * d, into: v, e, ldc: d)
        // The pooled rows' residual stream and normed inputs, packed.
        y.withUnsafeMutableBufferPointer { yp in
            guard let Y = yp.baseAddress else { return }
            for (row, node) in pooled.enumerated() {
                (Y + row * d).update(from: x + node * d, count: d)
                buf.at(attended, row * d).copyMemory(from: buf.at(normed, node * d), byteCount: d * size)
            }
            product(attended, rows: p, layer.qkv, rowRange: 0 ..< d, into: pooledQueries, e, ldc: d)
            treeAttention(q: pooledQueries, k: k, v: v, element: e, hidden: d, heads: weights.heads, chunk: chunk, nodes: pooled, out: normed)
            product(normed, rows: p, layer.out, into: Y, .f32, ldc: d, accumulate: true)
            layerNormRows(Y, rows: p, cols: d, layer.norm2, out: normed, bf16: e == .bf16)
            product(normed, rows: p, layer.fc1, activation: weights.activation, into: hidden, e, ldc: layer.fc1.outFeatures)
            product(hidden, rows: p, layer.fc2, into: Y, .f32, ldc: d, accumulate: true)
        }
        return y
    }

    // MARK: Attention over trie paths

    /// For query row `i` (of `q`, `nodes.count × hidden`) at node `nodes[i]`, per head: scores
    /// against the keys of the node's path (root first), an fp32 softmax, and the weighted sum
    /// of the path's values, accumulated in fp32 and written to row `i` of `out` in `element`.
    /// Keys and values are rows of `k` and `v` (`chunk.count × hidden`) by node.
    static func treeAttention(q: UnsafeRawPointer, k: UnsafeRawPointer, v: UnsafeRawPointer, element e: MatmulOperand.Element,
                              hidden d: Int, heads: Int, chunk: TokenTrie.Chunk, nodes: [Int], out: UnsafeMutableRawPointer) {
        switch e {
        case .f32:
            treeAttention(Float.self, q: q, k: k, v: v, hidden: d, heads: heads, chunk: chunk, nodes: nodes, out: out)
        case .bf16:
            treeAttention(UInt16.self, q: q, k: k, v: v, hidden: d, heads: heads, chunk: chunk, nodes: nodes, out: out)
        }
    }

    static func treeAttention<E: AttentionElement>(_: E.Type, q: UnsafeRawPointer, k: UnsafeRawPointer, v: UnsafeRawPointer,
                                                   hidden d: Int, heads: Int, chunk: TokenTrie.Chunk, nodes: [Int],
                                                   out: UnsafeMutableRawPointer) {
        let dh = d / heads
        let scale = 1 / Float(dh).squareRoot()
        let longest = (0..<chunk.count).reduce(1) { max($0, chunk.ancestorStart[$1 + 1] - chunk.ancestorStart[$1]) }
        let qa = UInt(bitPattern: q), ka = UInt(bitPattern: k), va = UInt(bitPattern: v), oa = UInt(bitPattern: out)
        chunk.ancestors.withUnsafeBufferPointer { ancestorsBuffer in
            chunk.ancestorStart.withUnsafeBufferPointer { startBuffer in
                nodes.withUnsafeBufferPointer { nodesBuffer in
                    guard let A = ancestorsBuffer.baseAddress, let S = startBuffer.baseAddress, let N = nodesBuffer.baseAddress else { return }
                    let aa = UInt(bitPattern: A), sa = UInt(bitPattern: S), na = UInt(bitPattern: N)
                    NeuralKernels.parallelFor(nodes.count, grain: 32) { range in
                        guard let Q = UnsafePointer<E>(bitPattern: qa), let K = UnsafePointer<E>(bitPattern: ka),
                              let V = UnsafePointer<E>(bitPattern: va), let O = UnsafeMutablePointer<E>(bitPattern: oa),
                              let ancestors = UnsafePointer<Int32>(bitPattern: aa), let starts = UnsafePointer<Int>(bitPattern: sa),
                              let nodes = UnsafePointer<Int>(bitPattern: na) else { return }
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: longest)
                        let query = UnsafeMutablePointer<Float>.allocate(capacity: dh)
                        let sum = UnsafeMutablePointer<Float>.allocate(capacity: dh)
                        defer { scores.deallocate(); query.deallocate(); sum.deallocate() }
                        for i in range {
                            let node = nodes[i]
                            let path = ancestors + starts[node]
                            let length = starts[node + 1] - starts[node]
                            for h in 0..<heads {
                                let column = h * dh
                                E.widen(Q + i * d + column, into: query, count: dh)
                                for j in 0..<length {
                                    scores[j] = E.dot(query, K + Int(path[j]) * d + column, count: dh)
                                }
                                NeuralKernels.scaledSoftmax(scores, count: length, scale: scale)
                                sum.update(repeating: 0, count: dh)
                                for j in 0..<length {
                                    E.accumulate(scores[j], V + Int(path[j]) * d + column, into: sum, count: dh)
                                }
                                E.narrow(sum, into: O + i * d + column, count: dh)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The element types attention reads and writes (fp32, or bf16 stored as `UInt16`), with the
/// fp32 arithmetic on them, eight lanes at a time.
protocol AttentionElement {
    static func widen(_ x: UnsafePointer<Self>, into out: UnsafeMutablePointer<Float>, count: Int)
    static func narrow(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Self>, count: Int)
    /// `Σ a[i] · b[i]` in fp32.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Self>, count: Int) -> Float
    /// `sum[i] += w · x[i]` in fp32.
    static func accumulate(_ w: Float, _ x: UnsafePointer<Self>, into sum: UnsafeMutablePointer<Float>, count: Int)
}

extension Float: AttentionElement {
    @inline(__always) static func lanes(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    static func widen(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) { out.update(from: x, count: count) }
    static func narrow(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) { out.update(from: x, count: count) }

    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= count { acc += lanes(a + i) * lanes(b + i); i += 8 }
        var total = acc.sum()
        while i < count { total += a[i] * b[i]; i += 1 }
        return total
    }

    @inline(__always) static func accumulate(_ w: Float, _ x: UnsafePointer<Float>, into sum: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            var s = lanes(sum + i)
            s += SIMD8(repeating: w) * lanes(x + i)
            UnsafeMutableRawPointer(sum + i).storeBytes(of: s, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { sum[i] += w * x[i]; i += 1 }
    }
}

extension UInt16: AttentionElement {
    @inline(__always) static func lanes(_ p: UnsafePointer<UInt16>) -> SIMD8<Float> {
        let raw = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self)
        return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: raw) &<< 16, to: SIMD8<Float>.self)
    }

    /// Eight lanes at a time (bf16 is the top half of an fp32: a shift, exact).
    static func widen(_ x: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(out + i).storeBytes(of: lanes(x + i), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { out[i] = BFloat16.toFloat(x[i]); i += 1 }
    }

    static func narrow(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<UInt16>, count: Int) {
        BFloat16.convert(x, to: out, count: count)
    }

    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<UInt16>, count: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= count { acc += Float.lanes(a + i) * lanes(b + i); i += 8 }
        var total = acc.sum()
        while i < count { total += a[i] * BFloat16.toFloat(b[i]); i += 1 }
        return total
    }

    @inline(__always) static func accumulate(_ w: Float, _ x: UnsafePointer<UInt16>, into sum: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            var s = Float.lanes(sum + i)
            s += SIMD8(repeating: w) * lanes(x + i)
            UnsafeMutableRawPointer(sum + i).storeBytes(of: s, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { sum[i] += w * BFloat16.toFloat(x[i]); i += 1 }
    }
}
