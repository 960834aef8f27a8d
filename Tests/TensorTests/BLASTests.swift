import Testing
@testable import Tensor

@Suite("BLAS")
struct BLASTests {
    /// Independent triple loop in Double.
    func naive(_ a: Matrix, _ b: Matrix, transposeB: Bool) -> [Double] {
        let n = transposeB ? b.rows : b.cols
        var out = [Double](repeating: 0, count: a.rows * n)
        for i in 0..<a.rows {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<a.cols { s += Double(a[i, k]) * Double(transposeB ? b[j, k] : b[k, j]) }
                out[i * n + j] = s
            }
        }
        return out
    }

    func random(_ rows: Int, _ cols: Int, seed: UInt64) -> Matrix {
        var state = seed
        var m = Matrix(rows: rows, cols: cols)
        for i in m.storage.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            m.storage[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
        return m
    }

    @Test("A·Bᵀ and A·B match a naive product", arguments: [(3, 5, 7), (1, 1, 1), (17, 33, 9), (64, 128, 40)])
    func products(shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        let a = random(m, k, seed: 1)
        let b = random(n, k, seed: 2)
        let abt = BLAS.matmulTransposed(a, b, alpha: 2)
        for (x, y) in zip(abt.storage, naive(a, b, transposeB: true)) { #expect(abs(Double(x) - 2 * y) < 1e-4) }
        let bt = b.transposed()
        let ab = BLAS.matmul(a, bt)
        for (x, y) in zip(ab.storage, naive(a, bt, transposeB: false)) { #expect(abs(Double(x) - y) < 1e-4) }
    }

    @Test("an empty inner dimension gives zeros")
    func emptyInner() {
        let c = BLAS.matmulTransposed(Matrix(rows: 2, cols: 0), Matrix(rows: 3, cols: 0))
        #expect(c.storage == [Float](repeating: 0, count: 6))
    }
}
