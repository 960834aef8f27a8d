import Platform

/// A layer's weight matrix `W` (`rows = out`, `cols = in`, row-major as checkpoints store it),
/// held once, in the precision its products run in: converting at load time means a bf16 model
/// keeps no fp32 copy of its weights.
public struct WeightMatrix: Sendable {
    public enum Storage: Sendable {
        case fp32([Float])
        case bf16([UInt16])
    }

    public let rows: Int
    public let cols: Int
    public let storage: Storage

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

    public var precision: Precision {
        switch storage {
        case .fp32: .fp32
        case .bf16: .bf16
        }
    }

    /// Bytes held.
    public var byteCount: Int {
        switch storage {
        case .fp32(let v): v.count * 4
        case .bf16(let v): v.count * 2
        }
    }

    /// The values widened to fp32 (tests and diagnostics; the hot path never calls this).
    public var floatValues: [Float] {
        switch storage {
        case .fp32(let v): v
        case .bf16(let v): BFloat16.widen(v)
        }
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
        }
    }
}
