import Tensor

/// Per-row state of the adaptive proxies, refreshed only for rows the bank changed.
///
/// - task proxy: `p_k = normalise(t_k + Σ cached)`; we keep the unnormalised sum and its
///   inverse norm, so a batch needs one GEMM against the rows that have cached features.
/// - sample proxy: `v·p_k(v) = (wᵀq) / sqrt(wᵀ Gram_k w)` with `q_m = v·m`,
///   `w_m = exp(−β(1 − q_m))`; we keep each row's Gram matrix over [text, cached…], so a batch
///   needs one GEMM against the feature pool and L² work per (sample, row) — never the
///   B × rows × L × D tensor the reference materialises.
struct ProxyCache {
    let proxy: ProxyKind
    let dimension: Int
    /// L = capacity + 1: slots per row including the text feature.
    let slotsPerRow: Int

    /// Rows (original label order) that hold at least one cached feature, in first-cached order.
    private(set) var cachedRows: [Int] = []
    /// `cacheIndex[row]`: position of `row` in `cachedRows`, or -1.
    private var cacheIndex: [Int]
    /// task: `cachedRows.count × dimension` unnormalised sums.
    private(set) var sums: Matrix
    /// task: `1 / ‖sum‖` per cached row.
    private(set) var inverseNorms: [Float] = []
    /// sample: `cachedRows.count × slotsPerRow²` Gram matrices (row-major, first slot = text).
    private(set) var grams: [Float] = []

    init(proxy: ProxyKind, rowCount: Int, memoryLength: Int, dimension: Int) {
        self.proxy = proxy
        self.dimension = dimension
        self.slotsPerRow = memoryLength
        self.cacheIndex = [Int](repeating: -1, count: rowCount)
        self.sums = Matrix(rows: 0, cols: dimension)
    }

    func index(ofRow row: Int) -> Int { cacheIndex[row] }

    // MARK: Refresh

    /// Recomputes the proxy state of `rows` from the bank.
    mutating func refresh(rows: [Int], bank: MemoryBank, space: LabelSpace) {
        for row in rows where bank.counts[row] > 0 {
            var j = cacheIndex[row]
            if j < 0 {
                j = cachedRows.count
                cacheIndex[row] = j
                cachedRows.append(row)
                switch proxy {
                case .task:
                    var zero = [Float](repeating: 0, count: dimension)
                    zero.withUnsafeBufferPointer { sums.appendRow($0) }
                    zero.removeAll()
                    inverseNorms.append(0)
                case .sample:
                    grams.append(contentsOf: [Float](repeating: 0, count: slotsPerRow * slotsPerRow))
                }
            }
            switch proxy {
            case .task: refreshSum(row: row, at: j, bank: bank, space: space)
            case .sample: refreshGram(row: row, at: j, bank: bank, space: space)
            }
        }
    }

    private mutating func refreshSum(row: Int, at j: Int, bank: MemoryBank, space: LabelSpace) {
        let d = dimension
        let textOffset = space.internalColumn[row] * d
        var norm2: Float = 0
        space.internalText.storage.withUnsafeBufferPointer { text in
            bank.pool.withUnsafeBufferPointer { pool in
                sums.storage.withUnsafeMutableBufferPointer { out in
                    let dst = out.baseAddress! + j * d
                    dst.update(from: text.baseAddress! + textOffset, count: d)
                    for slot in 0..<bank.counts[row] {
                        let src = pool.baseAddress! + bank.poolIndex(row: row, slot: slot) * d
                        for x in 0..<d { dst[x] += src[x] }
                    }
                    norm2 = RowKernels.squaredNorm(UnsafeBufferPointer(start: dst, count: d))
                }
            }
        }
        inverseNorms[j] = norm2 > 0 ? 1 / norm2.squareRoot() : 0
    }

    private mutating func refreshGram(row: Int, at j: Int, bank: MemoryBank, space: LabelSpace) {
        let d = dimension
        let n = bank.counts[row] + 1
        let stride = slotsPerRow
        let textOffset = space.internalColumn[row] * d
        space.internalText.storage.withUnsafeBufferPointer { text in
            bank.pool.withUnsafeBufferPointer { pool in
                grams.withUnsafeMutableBufferPointer { g in
                    let gram = g.baseAddress! + j * stride * stride
                    func vector(_ s: Int) -> UnsafePointer<Float> {
                        s == 0 ? text.baseAddress! + textOffset : pool.baseAddress! + bank.poolIndex(row: row, slot: s - 1) * d
                    }
                    for a in 0..<n {
                        for b in a..<n {
                            let v = RowKernels.dot(vector(a), vector(b), count: d)
                            gram[a * stride + b] = v
                            gram[b * stride + a] = v
                        }
                    }
                }
            }
        }
    }

    // MARK: Adaptive logits

    /// Overwrites the columns of cached rows in `adaptive` (B × labels, internal order, a copy
    /// of the static logits `z`) with `s · v·p_k`. Rows without cached features keep
    /// `z_k = s · v·t_k`, which is their proxy's logit.
    func apply(
        features: Matrix, staticLogits z: Matrix, adaptive: inout Matrix,
        bank: MemoryBank, space: LabelSpace, logitScale: Float, beta: Float
    ) {
        guard !cachedRows.isEmpty else { return }
        switch proxy {
        case .task: applyTask(features: features, adaptive: &adaptive, space: space, logitScale: logitScale)
        case .sample: applySample(features: features, z: z, adaptive: &adaptive, bank: bank, space: space, logitScale: logitScale, beta: beta)
        }
    }

    private func applyTask(features: Matrix, adaptive: inout Matrix, space: LabelSpace, logitScale: Float) {
        let projected = BLAS.matmulTransposed(features, sums, alpha: logitScale)
        let rows = cachedRows.map { space.internalColumn[$0] }
        let width = adaptive.cols
        let nc = rows.count
        // In column order, so the writes walk each row of the B × labels matrix forwards.
        let byColumn = (0..<nc).sorted { rows[$0] < rows[$1] }
        adaptive.storage.withUnsafeMutableBufferPointer { out in
            projected.storage.withUnsafeBufferPointer { proj in
                inverseNorms.withUnsafeBufferPointer { inv in
                    for i in 0..<features.rows {
                        let dst = out.baseAddress! + i * width
                        let src = proj.baseAddress! + i * nc
                        for j in byColumn { dst[rows[j]] = src[j] * inv[j] }
                    }
                }
            }
        }
    }

    private func applySample(
        features: Matrix, z: Matrix, adaptive: inout Matrix,
        bank: MemoryBank, space: LabelSpace, logitScale: Float, beta: Float
    ) {
        let poolMatrix = Matrix(rows: bank.poolCount, cols: dimension, storage: bank.pool)
        // P × B cosine similarities, a pool entry's for the whole batch contiguous: the loops
        // below run over the cached rows and stream each row's entries along the batch.
        let q = BLAS.matmulTransposed(poolMatrix, features)
        let rows = features.rows
        let nc = cachedRows.count
        let columns = cachedRows.map { space.internalColumn[$0] }
        let counts = cachedRows.map { bank.counts[$0] }
        let stride = slotsPerRow
        var pools = [Int](repeating: 0, count: nc * stride)
        for (j, row) in cachedRows.enumerated() {
            for s in 0..<counts[j] { pools[j * stride + s] = bank.poolIndex(row: row, slot: s) }
        }
        let slotPools = pools
        // The cached rows in column order, so that gathering their static logits out of (and
        // scattering the results into) the B × labels matrices walks each row forwards.
        let byColumn = (0..<nc).sorted { columns[$0] < columns[$1] }
        let width = adaptive.cols
        // `text[j·B + i]`: sample i's static logit of cached row j; `results` likewise.
        var text = [Float](repeating: 0, count: nc * rows)
        z.storage.withUnsafeBufferPointer { zBuf in
            for i in 0..<rows {
                let zRow = zBuf.baseAddress! + i * width
                for j in byColumn { text[j * rows + i] = zRow[columns[j]] }
            }
        }
        var results = [Float](repeating: 0, count: nc * rows)
        // Eight samples at a time, one SIMD lane each: every lane runs exactly the scalar
        // sequence of operations (no fused multiply-adds, same order), so a sample's logit
        // does not depend on which lane or block it falls in.
        let inverseScale = Lanes(repeating: 1 / logitScale)
        let scale = Lanes(repeating: logitScale)
        let negativeBeta = Lanes(repeating: -beta)
        let width8 = Lanes.scalarCount
        text.withUnsafeBufferPointer { tBuf in
            let tp = SharedConstPointer(tBuf.baseAddress!)
            results.withUnsafeMutableBufferPointer { rBuf in
                let rp = SharedPointer(rBuf.baseAddress!)
                q.storage.withUnsafeBufferPointer { qBuf in
                    let qp = SharedConstPointer(qBuf.baseAddress!)
                    grams.withUnsafeBufferPointer { gBuf in
                        let gp = SharedConstPointer(gBuf.baseAddress!)
                        parallelChunks(nc, minimumChunk: 16) { range in
                            var sims = [Lanes](repeating: .zero, count: stride)
                            var weights = [Lanes](repeating: .zero, count: stride)
                            /// Eight values from `base`, the lanes past `lanes` zero.
                            func load(_ base: UnsafePointer<Float>, _ lanes: Int) -> Lanes {
                                if lanes == width8 { return UnsafeRawPointer(base).loadUnaligned(as: Lanes.self) }
                                var v = Lanes.zero
                                for l in 0..<lanes { v[l] = base[l] }
                                return v
                            }
                            for j in range {
                                let n = counts[j] + 1
                                let gram = gp.base + j * stride * stride
                                var first = 0
                                while first < rows {
                                    let lanes = min(width8, rows - first)
                                    sims[0] = load(tp.base + j * rows + first, lanes) * inverseScale
                                    for s in 1..<n {
                                        sims[s] = load(qp.base + slotPools[j * stride + s - 1] * rows + first, lanes)
                                    }
                                    var numerator = Lanes.zero
                                    for s in 0..<n {
                                        let w = FastExp.exp(negativeBeta * (1 - sims[s]))
                                        weights[s] = w
                                        numerator += w * sims[s]
                                    }
                                    var quadratic = Lanes.zero
                                    for a in 0..<n {
                                        var acc = Lanes.zero
                                        for b in 0..<n { acc += Lanes(repeating: gram[a * stride + b]) * weights[b] }
                                        quadratic += weights[a] * acc
                                    }
                                    var logits = scale * numerator / quadratic.squareRoot()
                                    logits.replace(with: 0, where: .!(quadratic .> 0))
                                    let dst = rp.base + j * rows + first
                                    for l in 0..<lanes { dst[l] = logits[l] }
                                    first += lanes
                                }
                            }
                        }
                    }
                }
            }
        }
        adaptive.storage.withUnsafeMutableBufferPointer { out in
            for i in 0..<rows {
                let dst = out.baseAddress! + i * width
                for j in byColumn { dst[columns[j]] = results[j * rows + i] }
            }
        }
    }
}

private typealias Lanes = FastExp.Lanes
