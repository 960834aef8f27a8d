import Platform

/// A layer's weight matrix `W` (`rows = out`, `cols = in`, row-major as checkpoints store it),
/// held once, in the precision its products run in: converting at load time means a bf16 model
/// keeps no fp32 copy of its weights.
public struct WeightMatrix: Sendable {
    public enum Storage: Sendable {
        case fp32([Float])
        case bf16([UInt16])
        /// Values inside a read-only file mapping (a converted-weights cache or a checkpoint whose
        /// dtype already is the precision): processes mapping the same file share one copy
        /// through the page cache.
        case mapped(MappedWeights)
    }

    public let rows: Int
    public let cols: Int
    public let storage: Storage
    /// Blocks of the same values in oneDNN's packed layout (from a converted-weights cache),
    /// which the fused products read instead of `storage` where a kernel takes them.
    public var packed: [PackedWeights] = []

    /// Takes fp32 values (`rows × cols`) and keeps them in `precision`.
    public init(rows: Int, cols: Int, values: [Float], precision: Precision) {
        precondition(values.count == rows * cols, "weights hold \(values.count) values, \(rows)x\(cols) needs \(rows * cols)")
        self.rows = rows
        self.cols = cols
        switch precision {
        case .fp32: storage = .fp32(values)
        case .bf16: storage = .bf16(BFloat16.convert(values))
        }
    }

    /// Wraps mapped values (`rows × cols` of `mapped.precision`).
    public init(rows: Int, cols: Int, mapped: MappedWeights) {
        self.rows = rows
        self.cols = cols
        storage = .mapped(mapped)
    }

    public var precision: Precision {
        switch storage {
        case .fp32: .fp32
        case .bf16: .bf16
        case .mapped(let m): m.precision
        }
    }

    /// Bytes of values (held privately, or mapped).
    public var byteCount: Int {
        switch precision {
        case .fp32: rows * cols * 4
        case .bf16: rows * cols * 2
        }
    }

    public var isMapped: Bool { if case .mapped = storage { true } else { false } }

    /// Runs `body` on the bf16 values (row-major, row stride `cols`), held or mapped; nil, without
    /// calling it, when the values are fp32.
    public func withBF16Values<R>(_ body: (UnsafePointer<UInt16>) -> R) -> R? {
        switch storage {
        case .fp32: return nil
        case .bf16(let values): return values.withUnsafeBufferPointer { p in p.baseAddress.map(body) }
        case .mapped(let mapped):
            guard mapped.precision == .bf16 else { return nil }
            return withExtendedLifetime(mapped.owner) { body(mapped.base.assumingMemoryBound(to: UInt16.self)) }
        }
    }

    /// Runs `body` on the values in their own precision (row-major, row stride `cols`), held or
    /// mapped.
    public func withRawValues<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        switch storage {
        case .fp32(let values): return values.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!) }
        case .bf16(let values): return values.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!) }
        case .mapped(let mapped): return withExtendedLifetime(mapped.owner) { body(mapped.base) }
        }
    }

    /// The element type of the values, as the products name it.
    public var element: MatmulOperand.Element { precision == .fp32 ? .f32 : .bf16 }

    /// The values widened to fp32 (tests and diagnostics; the hot path never calls this).
    public var floatValues: [Float] {
        switch storage {
        case .fp32(let v): v
        case .bf16(let v): BFloat16.widen(v)
        case .mapped(let m):
            switch m.precision {
            case .fp32: Array(UnsafeBufferPointer(start: m.base.assumingMemoryBound(to: Float.self), count: rows * cols))
            case .bf16: UnsafeBufferPointer(start: m.base.assumingMemoryBound(to: UInt16.self), count: rows * cols).map(BFloat16.toFloat)
            }
        }
    }
}

/// A pointer into a read-only mapping, with the object that keeps the mapping alive.
public struct MappedWeights: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let precision: Precision
    /// Retained so the mapping outlives every matrix that points into it.
    public let owner: AnyObject

    /// `base` must be aligned for the precision's element (4 bytes for fp32, 2 for bf16).
    public init?(base: UnsafeRawPointer, precision: Precision, owner: AnyObject) {
        let alignment = precision == .fp32 ? MemoryLayout<Float>.alignment : MemoryLayout<UInt16>.alignment
        guard Int(bitPattern: base) % alignment == 0 else { return nil }
        self.base = base
        self.precision = precision
        self.owner = owner
    }
}

/// Products against weight matrices: `C = A · W[rowRange]ᵀ (+ C)`, the shape of every linear
/// layer, dispatched on the weights' precision: fp32 through OpenBLAS' `sgemm`, bf16 through
/// oneDNN's matmul (AMX or AVX512-BF16 kernels, fp32 accumulation).
public enum WeightProducts {
    /// - Parameters:
    ///   - a: `m × k` activations with row stride `lda`.
    ///   - rowRange: the rows of `W` to multiply by (`n = rowRange.count`); all rows when nil.
    ///   - c: `m × n` output with row stride `ldc`; with `accumulate` the product is added to it.
    public static func multiply(_ a: UnsafePointer<Float>, lda: Int, rows m: Int, _ w: WeightMatrix, rowRange: Range<Int>? = nil,
                                into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        let range = rowRange ?? 0..<w.rows
        precondition(range.lowerBound >= 0 && range.upperBound <= w.rows, "weight rows \(range) of \(w.rows)")
        let n = range.count, k = w.cols
        guard m > 0, n > 0, k > 0 else { return }
        switch w.storage {
        case .fp32(let values):
            values.withUnsafeBufferPointer { wp in
                guard let base = wp.baseAddress else { return }
                BLAS.gemmRaw(a, lda: lda, transB: true, base + range.lowerBound * k, ldb: k, m: m, n: n, k: k,
                             out: c, ldc: ldc, beta: accumulate ? 1 : 0)
            }
        case .bf16(let values):
            values.withUnsafeBufferPointer { wp in
                guard let base = wp.baseAddress else { return }
                OneDNNMatmul.shared.multiplyBF16(a, lda: lda, m: m, weights: base + range.lowerBound * k, n: n, k: k,
                                                 out: c, ldc: ldc, accumulate: accumulate)
            }
        case .mapped(let mapped):
            withExtendedLifetime(mapped.owner) {
                switch mapped.precision {
                case .fp32:
                    let base = mapped.base.assumingMemoryBound(to: Float.self)
                    BLAS.gemmRaw(a, lda: lda, transB: true, base + range.lowerBound * k, ldb: k, m: m, n: n, k: k,
                                 out: c, ldc: ldc, beta: accumulate ? 1 : 0)
                case .bf16:
                    let base = mapped.base.assumingMemoryBound(to: UInt16.self)
                    OneDNNMatmul.shared.multiplyBF16(a, lda: lda, m: m, weights: base + range.lowerBound * k, n: n, k: k,
                                                     out: c, ldc: ldc, accumulate: accumulate)
                }
            }
        }
    }

    /// `out = act(a · W[rowRange]ᵀ + bias) (+ out)` for activations that already are bf16, with
    /// the bias, activation and residual add done inside oneDNN's kernel in fp32 and the result
    /// stored as `element` (bf16 where it feeds the next product, fp32 for the residual stream).
    /// `w` must hold bf16 values.
    public static func fusedBF16(_ a: UnsafePointer<UInt16>, lda: Int, rows m: Int, _ w: WeightMatrix, rowRange: Range<Int>? = nil,
                                 bias: UnsafePointer<Float>?, activation: MatmulActivation? = nil,
                                 into out: UnsafeMutableRawPointer, element: MatmulOperand.Element, ldc: Int, accumulate: Bool = false) {
        precondition(w.precision == .bf16, "fusedBF16 needs bf16 weights")
        fused(UnsafeRawPointer(a), lda: lda, rows: m, w, rowRange: rowRange, bias: bias, activation: activation,
              into: out, element: element, ldc: ldc, accumulate: accumulate)
    }

    /// `out = act(a · W[rowRange]ᵀ + bias) (+ out)` through oneDNN, in the weights' precision:
    /// `a` holds elements of `w.element` (bf16 or fp32) with row stride `lda`; bias, activation
    /// and residual add run in fp32 inside the kernel, and the result is stored as `element`.
    /// Weights packed at load (`PackedWeights`) are read in their packed layout.
    public static func fused(_ a: UnsafeRawPointer, lda: Int, rows m: Int, _ w: WeightMatrix, rowRange: Range<Int>? = nil,
                             bias: UnsafePointer<Float>?, activation: MatmulActivation? = nil,
                             into out: UnsafeMutableRawPointer, element: MatmulOperand.Element, ldc: Int, accumulate: Bool = false) {
        let range = rowRange ?? 0..<w.rows
        precondition(range.lowerBound >= 0 && range.upperBound <= w.rows, "weight rows \(range) of \(w.rows)")
        let n = range.count, k = w.cols
        guard m > 0, n > 0, k > 0 else { return }
        let shape = MatmulShape(m: m, n: n, k: k, src: MatmulOperand(w.element, rowStride: lda),
                                weights: OneDNNMatmul.transposedWeights(k: k, w.element), dst: MatmulOperand(element, rowStride: ldc),
                                bias: bias != nil, activation: activation, accumulate: accumulate, threads: BLAS.threads)
        if let block = w.packed.first(where: { $0.rows == range }) {
            var packedShape = shape
            packedShape.packedWeights = true
            if OneDNNMatmul.shared.canRun(packedShape) {
                withExtendedLifetime(block.owner) {
                    OneDNNMatmul.shared.run(packedShape, src: a, weights: block.base, bias: bias, dst: out)
                }
                return
            }
        }
        w.withRawValues { base in
            OneDNNMatmul.shared.run(shape, src: a, weights: base + range.lowerBound * k * w.element.size, bias: bias, dst: out)
        }
    }
}
