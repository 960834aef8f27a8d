import Foundation
import Tensor
import Testing

/// The element-wise kernels behind the towers, against double-precision references.
@Suite("Neural kernels")
struct KernelTests {
    static let inputs: [Float] = stride(from: -12.0, through: 12.0, by: 0.0137).map { Float($0) } + [0, -0.0, 1e-8, -1e-8, 40, -40]

    static func apply(_ kernel: (UnsafeMutablePointer<Float>, Int) -> Void, _ xs: [Float]) -> [Float] {
        var y = xs
        y.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { kernel(p, $0.count) } }
        return y
    }

    @Test("GELU (erf) within 2e-6 absolute of x·Φ(x)")
    func gelu() {
        let y = Self.apply({ NeuralKernels.gelu($0, count: $1) }, Self.inputs)
        var worst = 0.0
        for (x, v) in zip(Self.inputs, y) {
            let ref = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(v) - ref) / max(1, abs(ref)))
        }
        #expect(worst < 2e-6, "worst \(worst)")
    }

    @Test("QuickGELU within 1e-6 of x·σ(1.702x)")
    func quickGELU() {
        let y = Self.apply({ NeuralKernels.quickGELU($0, count: $1) }, Self.inputs)
        var worst = 0.0
        for (x, v) in zip(Self.inputs, y) {
            let ref = Double(x) / (1 + Foundation.exp(-1.702 * Double(x)))
            worst = max(worst, abs(Double(v) - ref) / max(1, abs(ref)))
        }
        #expect(worst < 1e-6, "worst \(worst)")
    }

    @Test("tanh GELU within 1e-6 of the formula")
    func geluTanh() {
        let y = Self.apply({ NeuralKernels.geluTanh($0, count: $1) }, Self.inputs)
        var worst = 0.0
        for (x, v) in zip(Self.inputs, y) {
            let d = Double(x)
            let ref = 0.5 * d * (1 + Foundation.tanh(0.7978845608028654 * (d + 0.044715 * d * d * d)))
            worst = max(worst, abs(Double(v) - ref) / max(1, abs(ref)))
        }
        #expect(worst < 1e-6, "worst \(worst)")
    }

    @Test("layer norm matches a double-precision reference, odd widths included", arguments: [1, 7, 8, 33, 768])
    func layerNorm(cols: Int) {
        let rows = 3
        var x = [Float](repeating: 0, count: rows * cols)
        for i in x.indices { x[i] = Float(sin(Double(i) * 1.3) * 3 + 0.5) }
        let gamma = (0..<cols).map { Float(1 + 0.01 * Double($0)) }
        let beta = (0..<cols).map { Float(0.1 * cos(Double($0))) }
        var out = [Float](repeating: 0, count: rows * cols)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                NeuralKernels.layerNorm(xp.baseAddress!, xStride: cols, rows: rows, cols: cols, gamma: gamma, beta: beta,
                                        eps: 1e-5, out: op.baseAddress!, outStride: cols)
            }
        }
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for c in 0..<cols {
                let ref = (row[c] - mean) / (variance + 1e-5).squareRoot() * Double(gamma[c]) + Double(beta[c])
                #expect(abs(Double(out[r * cols + c]) - ref) < 1e-4)
            }
        }
    }

    @Test("softmax sums to one and is stable for large logits")
    func softmax() {
        var x: [Float] = [1000, 999, 998, -1000, 0, 3, 2, 1, 0.5]
        x.withUnsafeMutableBufferPointer { NeuralKernels.scaledSoftmax($0.baseAddress!, count: $0.count, scale: 1) }
        #expect(abs(x.reduce(0, +) - 1) < 1e-5)
        #expect(x[0] > x[1] && x[1] > x[2] && x[3] == 0)
    }
}
