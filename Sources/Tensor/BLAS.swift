import COpenBLAS

/// Matrix products through OpenBLAS' `cblas_sgemm`.
///
/// Everything in adaneg that looks like a matrix product goes through here, so that the
/// threading and blocking of one tuned library does the heavy lifting.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, with `op` an optional transpose.
    public static func gemm(
        _ a: Matrix, transposeA: Bool = false,
        _ b: Matrix, transposeB: Bool = false,
        alpha: Float = 1, beta: Float = 0,
        into c: inout Matrix
    ) {
        let m = transposeA ? a.cols : a.rows
        let k = transposeA ? a.rows : a.cols
        let kb = transposeB ? b.cols : b.rows
        let n = transposeB ? b.rows : b.cols
        precondition(k == kb, "inner dimensions differ: \(k) vs \(kb)")
        precondition(c.rows == m && c.cols == n, "output is \(c.rows)x\(c.cols), product is \(m)x\(n)")
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { c.storage.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            else { c.storage.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= beta } } }
            return
        }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.storage.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(
                        CblasRowMajor,
                        transposeA ? CblasTrans : CblasNoTrans,
                        transposeB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k),
                        alpha, pa.baseAddress, Int32(a.cols),
                        pb.baseAddress, Int32(b.cols),
                        beta, pc.baseAddress, Int32(c.cols)
                    )
                }
            }
        }
    }

    /// `A · Bᵀ`: the shape of every similarity computation (rows of A against rows of B).
    public static func matmulTransposed(_ a: Matrix, _ b: Matrix, alpha: Float = 1) -> Matrix {
        var c = Matrix(rows: a.rows, cols: b.rows)
        gemm(a, b, transposeB: true, alpha: alpha, into: &c)
        return c
    }

    /// `A · B`.
    public static func matmul(_ a: Matrix, _ b: Matrix, alpha: Float = 1) -> Matrix {
        var c = Matrix(rows: a.rows, cols: b.cols)
        gemm(a, b, alpha: alpha, into: &c)
        return c
    }

    /// Sets the number of OpenBLAS threads (0 keeps OpenBLAS' own choice).
    public static func setThreads(_ count: Int) {
        if count > 0 { openblas_set_num_threads(Int32(count)) }
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernel OpenBLAS chose when it loaded (`Haswell`, `SkylakeX`, `Prescott`, …).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS' build configuration line (version, `DYNAMIC_ARCH`, thread limit).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// `C = A · op(B) (+ beta · C)` on raw row-major storage with explicit strides, for kernels
    /// that multiply sub-blocks of larger buffers.
    @inline(__always)
    public static func gemmRaw(_ a: UnsafePointer<Float>, lda: Int, transB: Bool, _ b: UnsafePointer<Float>, ldb: Int,
                               m: Int, n: Int, k: Int, out c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0) {
        guard m > 0, n > 0, k > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
