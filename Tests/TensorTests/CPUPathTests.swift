import Foundation
import Platform
import Testing
@testable import Tensor

/// Issue 25's CPU path: the OpenMP team the kernels between products run on, fp32 products
/// through oneDNN with fused post-ops, and weights packed for oneDNN's kernels.
@Suite("CPU path: OpenMP pool, fused fp32 products, packed weights")
struct CPUPathTests {
    func random(_ count: Int, seed: UInt64) -> [Float] { WeightProductsTests().random(count, seed: seed) }

    @Test("the OpenMP pool covers every index exactly once, whatever the team size; a nested region runs on its caller alone",
          arguments: [(0, 2), (1, 2), (7, 2), (1000, 2), (1001, 3), (64, 1), (5, 8)])
    func poolCoverage(count: Int, threads: Int) {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
        hits.initialize(repeating: 0, count: max(1, count))
        defer { hits.deallocate() }
        let address = UInt(bitPattern: hits)
        OpenMPPool.forEachRange(count, threads: threads) { range in
            guard let h = UnsafeMutablePointer<Int>(bitPattern: address) else { return }
            for i in range { h[i] += 1 }
        }
        #expect((0..<count).allSatisfy { hits[$0] == 1 })
        let teams = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        teams.initialize(repeating: -1, count: 8)
        defer { teams.deallocate() }
        let teamsAddress = UInt(bitPattern: teams)
        OpenMPPool.run(threads: 2) { member, _ in
            OpenMPPool.run(threads: 2) { _, inner in
                UnsafeMutablePointer<Int>(bitPattern: teamsAddress)?[member] = inner
            }
        }
        #expect(teams[0] == 1)
    }

    @Test("perWorker runs each worker once on either pool")
    func perWorker() {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 5)
        hits.initialize(repeating: 0, count: 5)
        defer { hits.deallocate() }
        let address = UInt(bitPattern: hits)
        NeuralKernels.perWorker(5) { w in
            guard let h = UnsafeMutablePointer<Int>(bitPattern: address) else { return }
            h[w] += 1
        }
        #expect((0..<5).allSatisfy { hits[$0] == 1 })
    }

    /// `act(a · W[rows]ᵀ + b) (+ residual)` in Double.
    func reference(_ a: [Float], m: Int, _ w: [Float], rows: Range<Int>, k: Int, bias: [Float], quickGELU: Bool, residual: [Float]?) -> [Double] {
        var out: [Double] = []
        for i in 0..<m {
            for (jj, j) in rows.enumerated() {
                var s = Double(bias[j])
                for t in 0..<k { s += Double(a[i * k + t]) * Double(w[j * k + t]) }
                if quickGELU { s = s / (1 + exp(-1.702 * s)) }
                if let residual { s += Double(residual[i * rows.count + jj]) }
                out.append(s)
            }
        }
        return out
    }

    @Test("fp32 products through oneDNN: bias, QuickGELU and the residual add fused in, equal to the exact product within 1e-5",
          arguments: [(5, 48, 64, false), (33, 96, 128, true), (197, 40, 24, true)])
    func fusedFP32(m: Int, n: Int, k: Int, accumulate: Bool) throws {
        try #require(OneDNNMatmul.shared.supportsF32, "oneDNN runs no fp32 matmul here")
        let a = random(m * k, seed: 1), values = random(3 * n * k, seed: 2), bias = random(3 * n, seed: 3)
        let w = WeightMatrix(rows: 3 * n, cols: k, values: values, precision: .fp32)
        let rows = n ..< 2 * n
        var out = accumulate ? random(m * n, seed: 4) : [Float](repeating: 0, count: m * n)
        let expected = reference(a, m: m, values, rows: rows, k: k, bias: bias, quickGELU: true, residual: accumulate ? out : nil)
        a.withUnsafeBytes { ap in
            bias.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBytes { op in
                    WeightProducts.fused(ap.baseAddress!, lda: k, rows: m, w, rowRange: rows, bias: bp.baseAddress! + rows.lowerBound,
                                         activation: .quickGELU, into: op.baseAddress!, element: .f32, ldc: n, accumulate: accumulate)
                }
            }
        }
        let worst = zip(out, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 1e-5, "worst relative error \(worst)")
    }

    @Test("packed weights: one reorder at load, products equal the plain layout's bit for bit (fp32 and bf16)",
          arguments: [MatmulOperand.Element.f32, .bf16])
    func packedEqualsPlain(element: MatmulOperand.Element) throws {
        let (m, n, k) = (70, 128, 96)
        let layout = try #require(OneDNNMatmul.shared.packedLayout(n: n, k: k, element: element),
                                  "oneDNN has no packed layout for this CPU (no brgemm kernel)")
        #expect(layout.fingerprint.contains(OneDNNMatmul.version))
        let values = random(2 * n * k, seed: 5), bias = random(2 * n, seed: 6)
        let w = WeightMatrix(rows: 2 * n, cols: k, values: values, precision: element == .f32 ? .fp32 : .bf16)
        let rows = n ..< 2 * n
        let packed = UnsafeMutableRawPointer.allocate(byteCount: layout.byteCount, alignment: 64)
        defer { packed.deallocate() }
        let ok = w.withRawValues { base in
            OneDNNMatmul.shared.pack(base + rows.lowerBound * k * element.size, n: n, k: k, element: element, into: packed)
        }
        #expect(ok)
        var withPacked = w
        final class Keeper {}
        withPacked.packed = [PackedWeights(rows: rows, base: UnsafeRawPointer(packed), byteCount: layout.byteCount, owner: Keeper())]
        let input = random(m * k, seed: 7)
        let a: [UInt8] = element == .f32 ? input.withUnsafeBytes { Array($0) } : BFloat16.convert(input).withUnsafeBytes { Array($0) }
        func run(_ matrix: WeightMatrix) -> [Float] {
            var out = [Float](repeating: 0, count: m * n)
            a.withUnsafeBytes { ap in
                bias.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBytes { op in
                        WeightProducts.fused(ap.baseAddress!, lda: k, rows: m, matrix, rowRange: rows, bias: bp.baseAddress! + rows.lowerBound,
                                             activation: .gelu, into: op.baseAddress!, element: .f32, ldc: n)
                    }
                }
            }
            return out
        }
        let plain = run(w), fromPacked = run(withPacked)
        #expect(plain == fromPacked)
        // A block for other rows than the product's is not used (the plain values are).
        var mismatched = w
        mismatched.packed = [PackedWeights(rows: 0 ..< n, base: UnsafeRawPointer(packed), byteCount: layout.byteCount, owner: Keeper())]
        #expect(run(mismatched) == plain)
    }

    @Test("doctor's kernel choices name each precision's kernel, the weights' layout and the pool")
    func kernelChoices() {
        let choices = KernelChoices.current()
        #expect(choices.fp32Products.contains(FP32Products.current == .oneDNN ? "oneDNN" : "OpenBLAS"))
        #expect(choices.threadPool.hasPrefix(NeuralKernels.pool.rawValue))
        #expect(choices.lines.count == 4 && choices.lines.allSatisfy { $0.contains(":") })
        if OneDNNMatmul.shared.packedLayout(n: 768, k: 768, element: .bf16) != nil {
            #expect(choices.bf16Weights.hasPrefix("packed"))
        }
    }
}
