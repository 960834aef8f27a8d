import Foundation
import Testing
@testable import Tensor

@Suite("Row kernels")
struct KernelTests {
    @Test("vectorised exp is within 3 ulp of libm over the whole range")
    func fastExp() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let lanes = FastExp.exp(FastExp.Lanes((0..<8).map { x + Float($0) * 0.0013 }))
            for i in 0..<8 {
                let v = x + Float(i) * 0.0013
                let exact = Float(Foundation.exp(Double(v)))
                worst = max(worst, abs(lanes[i] - exact) / exact.ulp)
            }
            x += 0.0173
        }
        #expect(worst <= 3)
        #expect(FastExp.exp(-200) == 0)
        #expect(FastExp.exp(0) == 1)
    }

    @Test("log-sum-exp and softmax are stable for logits around ±100")
    func stableSoftmax() {
        var logits: [Float] = (0..<1000).map { Float($0 % 37) * 5 - 90 }
        logits[3] = 110
        let lse = logits.withUnsafeBufferPointer { RowKernels.logSumExp($0) }
        let reference = logits.map(Double.init).reduce(into: 0.0) { $0 += Foundation.exp($1 - 110) }
        #expect(abs(Double(lse) - (110 + Foundation.log(reference))) < 1e-4)
        logits.withUnsafeMutableBufferPointer { RowKernels.softmax($0) }
        #expect(abs(logits.reduce(0, +) - 1) < 1e-5)
        #expect(logits.allSatisfy { $0.isFinite && $0 >= 0 })
    }

    @Test("argmax takes the first maximum; dot and squared norm agree with a loop")
    func reductions() {
        let x: [Float] = [1, 5, 2, 5, -1, 0, 3, 4, 4, 1]
        #expect(x.withUnsafeBufferPointer { RowKernels.argmax($0) } == 1)
        let y: [Float] = (0..<19).map { Float($0) * 0.5 - 3 }
        let d = y.withUnsafeBufferPointer { p in RowKernels.dot(p.baseAddress!, p.baseAddress!, count: 19) }
        let s = y.withUnsafeBufferPointer { RowKernels.squaredNorm($0) }
        let exact = y.reduce(0) { $0 + $1 * $1 }
        #expect(abs(d - exact) < 1e-4 && abs(s - exact) < 1e-4)
    }

    @Test("normalizeRows reports rows that were off and leaves zero rows alone")
    func normalization() {
        var m = Matrix(rowsOf: [[3, 4], [0.6, 0.8], [0, 0]])
        let off = m.normalizeRows()
        #expect(off == 2) // the 5-norm row and the zero row
        #expect(abs(m[0, 0] - 0.6) < 1e-6 && abs(m[0, 1] - 0.8) < 1e-6)
        #expect(m.row(2) == [0, 0])
    }

    @Test("topK orders by value, ties by index")
    func topKOrder() {
        #expect(topK([0.1, 0.9, 0.5, 0.9, 0.2], 3) == [1, 3, 2])
        #expect(topK([1, 2], 5) == [1, 0])
    }

    @Test("firstNonFinite finds NaN and infinity")
    func nonFinite() {
        let m = Matrix(rowsOf: [[1, 2], [3, .nan]])
        #expect(m.firstNonFinite()! == (1, 1))
        #expect(Matrix(rowsOf: [[1, 2]]).firstNonFinite() == nil)
    }
}
