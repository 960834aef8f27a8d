import Foundation
import Platform
import Testing
@testable import Tensor

@Suite("Weight products (fp32 and bf16)")
struct WeightProductsTests {
    func random(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
    }

    /// C[i, j] = Σ a[i, k] · w[j, k] in Double over the values as the product sees them.
    func naive(_ a: [Float], lda: Int, m: Int, _ w: [Float], rows: Range<Int>, k: Int) -> [Double] {
        var out: [Double] = []
        for i in 0..<m {
            for j in rows {
                var s = 0.0
                for t in 0..<k { s += Double(a[i * lda + t]) * Double(w[j * k + t]) }
                out.append(s)
            }
        }
        return out
    }

    @Test("bf16 rounding is to nearest even, and widening is exact")
    func rounding() {
        #expect(BFloat16.fromFloat(1.0) == 0x3F80)
        #expect(BFloat16.toFloat(0x3F80) == 1.0)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        #expect(BFloat16.fromFloat(1 + 1.0 / 256) == 0x3F80)
        #expect(BFloat16.fromFloat(1 + 3.0 / 256) == 0x3F82)
        #expect(BFloat16.fromFloat(-2.5) == 0xC020)
        #expect(BFloat16.toFloat(BFloat16.fromFloat(.nan)).isNaN)
        let values = random(1000, seed: 9)
        #expect(BFloat16.convert(values) == values.map(BFloat16.fromFloat))
    }

    @Test("products match a naive product: fp32 exactly-ish, bf16 on the rounded inputs",
          arguments: [Precision.fp32, .bf16], [(5, 7, 9), (33, 64, 48), (197, 96, 288)])
    func products(precision: Precision, shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        let lda = k + 3, ldc = n + 2
        let a = random(m * lda, seed: 1)
        let wValues = random(n * k, seed: 2)
        let w = WeightMatrix(rows: n, cols: k, values: wValues, precision: precision)
        let seen: ([Float], [Float]) = precision == .fp32
            ? (a, wValues)
            : (a.map { BFloat16.toFloat(BFloat16.fromFloat($0)) }, w.floatValues)
        // A row range: the last n/3 rows (the K/V part of a fused projection, say).
        let range = (2 * n / 3)..<n
        for accumulate in [false, true] {
            var c = random(m * ldc, seed: 3)
            let before = c
            a.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    WeightProducts.multiply(ap.baseAddress!, lda: lda, rows: m, w, rowRange: range, into: cp.baseAddress!, ldc: ldc, accumulate: accumulate)
                }
            }
            let expected = naive(seen.0, lda: lda, m: m, seen.1, rows: range, k: k)
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<range.count {
                    let base = accumulate ? Double(before[i * ldc + j]) : 0
                    worst = max(worst, abs(Double(c[i * ldc + j]) - (expected[i * range.count + j] + base)))
                }
                // Padding columns beyond the product are untouched.
                for j in range.count..<ldc { #expect(c[i * ldc + j] == before[i * ldc + j]) }
            }
            #expect(worst < 1e-3 * Double(k).squareRoot(), "\(precision) \(shape) accumulate \(accumulate): max error \(worst)")
        }
    }

    @Test("bf16 weights hold half the bytes and no fp32 copy")
    func storage() {
        let w = WeightMatrix(rows: 64, cols: 32, values: random(64 * 32, seed: 4), precision: .bf16)
        #expect(w.byteCount == 64 * 32 * 2)
        if case .fp32 = w.storage { Issue.record("bf16 weights stored as fp32") }
    }

    func activate(_ x: Double, _ activation: MatmulActivation?) -> Double {
        switch activation {
        case nil: x
        case .quickGELU?: x / (1 + Foundation.exp(-1.702 * x))
        case .gelu?: 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        case .geluTanh?: 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
        case .relu?: max(0, x)
        }
    }

    @Test("fused bf16 products: bias, activation and residual inside the kernel; fp32 or bf16 output",
          arguments: [MatmulActivation?.none, .quickGELU, .gelu, .geluTanh, .relu], [MatmulOperand.Element.f32, .bf16])
    func fused(activation: MatmulActivation?, element: MatmulOperand.Element) {
        let (m, k, n) = (37, 48, 40)
        let lda = k + 5, ldc = n + 3
        let aValues = random(m * lda, seed: 11).map { BFloat16.fromFloat($0) }
        let wValues = random(n * k, seed: 12)
        let bias = random(n, seed: 13)
        let w = WeightMatrix(rows: n, cols: k, values: wValues, precision: .bf16)
        let range = (n / 4)..<n
        let expected = naive(aValues.map(BFloat16.toFloat), lda: lda, m: m, w.floatValues, rows: range, k: k)
        let accumulateChoices = element == .f32 ? [false, true] : [false]
        for accumulate in accumulateChoices {
            let before = random(m * ldc, seed: 14)
            var f32Out = before
            var bf16Out = before.map { BFloat16.fromFloat($0) }
            bias.withUnsafeBufferPointer { bp in
                aValues.withUnsafeBufferPointer { ap in
                    guard let a = ap.baseAddress, let b = bp.baseAddress else { return }
                    if element == .f32 {
                        f32Out.withUnsafeMutableBufferPointer { cp in
                            WeightProducts.fusedBF16(a, lda: lda, rows: m, w, rowRange: range, bias: b + range.lowerBound, activation: activation,
                                                     into: UnsafeMutableRawPointer(cp.baseAddress!), element: .f32, ldc: ldc, accumulate: accumulate)
                        }
                    } else {
                        bf16Out.withUnsafeMutableBufferPointer { cp in
                            WeightProducts.fusedBF16(a, lda: lda, rows: m, w, rowRange: range, bias: b + range.lowerBound, activation: activation,
                                                     into: UnsafeMutableRawPointer(cp.baseAddress!), element: .bf16, ldc: ldc)
                        }
                    }
                }
            }
            let got = element == .f32 ? f32Out : bf16Out.map(BFloat16.toFloat)
            let untouched = element == .f32 ? before : before.map { BFloat16.toFloat(BFloat16.fromFloat($0)) }
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<range.count {
                    var e = activate(expected[i * range.count + j] + Double(bias[range.lowerBound + j]), activation)
                    if accumulate { e += Double(before[i * ldc + j]) }
                    let tolerance = 1e-3 * Double(k).squareRoot() + (element == .bf16 ? 0.008 * abs(e) : 0)
                    worst = max(worst, abs(Double(got[i * ldc + j]) - e) - tolerance)
                }
                for j in range.count..<ldc { #expect(got[i * ldc + j] == untouched[i * ldc + j]) }
            }
            #expect(worst <= 0, "\(String(describing: activation)) \(element) accumulate \(accumulate): error beyond tolerance by \(worst)")
        }
    }

    @Test("batched bf16 products read strided operands in place (attention's per-head QKᵀ)")
    func batchedStrided() {
        // Three "heads" of width 8 side by side in rows of 3·24 = [Q | K | V], 13 positions.
        let (heads, dh, seq) = (3, 8, 13)
        let d = heads * dh, stride = 3 * d
        let qkv = random(seq * stride, seed: 21).map { BFloat16.fromFloat($0) }
        var scores = [Float](repeating: .nan, count: heads * seq * seq)
        let shape = MatmulShape(batch: heads, m: seq, n: seq, k: dh,
                                src: MatmulOperand(.bf16, batchStride: dh, rowStride: stride),
                                weights: MatmulOperand(.bf16, batchStride: dh, rowStride: 1, colStride: stride),
                                dst: MatmulOperand(.f32, batchStride: seq * seq, rowStride: seq), threads: 1)
        qkv.withUnsafeBufferPointer { q in
            scores.withUnsafeMutableBufferPointer { s in
                OneDNNMatmul.shared.run(shape, src: q.baseAddress!, weights: q.baseAddress! + d, bias: nil, dst: s.baseAddress!)
            }
        }
        var worst = 0.0
        for h in 0..<heads {
            for i in 0..<seq {
                for j in 0..<seq {
                    var e = 0.0
                    for t in 0..<dh {
                        e += Double(BFloat16.toFloat(qkv[i * stride + h * dh + t])) * Double(BFloat16.toFloat(qkv[j * stride + d + h * dh + t]))
                    }
                    worst = max(worst, abs(Double(scores[(h * seq + i) * seq + j]) - e))
                }
            }
        }
        #expect(worst < 1e-4, "max error \(worst)")
    }
}
