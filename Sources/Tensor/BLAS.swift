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
}
