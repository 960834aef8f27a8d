import Foundation
import Platform
import Tensor

/// `doctor`'s measure of the text tower's product rate: the four products of one layer of
/// ViT-B/16's text tower (Q, K and V as three 512 × 512 blocks, the output projection, fc1 with
/// QuickGELU and fc2 with the residual add) over a chunk of 2,048 rows, through the same fused
/// oneDNN calls and packed weights the tower runs. Why: NegMining's text tower is made of these
/// products, so this rate times the tower's FLOPs bounds `mine-negatives` from below
/// (BENCHMARKS.md, "Session 4"); the 1,024³ GEMM above is not the tower's shape.
enum TextLayerProbe {
    static let rows = 2048
    static let hidden = 512
    static let intermediate = 2048

    /// Keeps the packed copies' memory alive while the weight matrices point into it.
    final class Storage {
        var blocks: [UnsafeMutableRawPointer] = []
        deinit { for b in blocks { b.deallocate() } }
    }

    /// GFLOP/s of the layer's products in `precision` (the best of repeated passes over
    /// `seconds`), nil where oneDNN does not run that precision's products here.
    static func gflops(_ precision: Precision, seconds: Double) -> Double? {
        let element: MatmulOperand.Element = precision == .fp32 ? .f32 : .bf16
        if precision == .fp32, FP32Products.current != .oneDNN { return nil }
        if precision == .bf16, OneDNNMatmul.shared.unavailableReason() != nil { return nil }
        let (d, i, m) = (hidden, intermediate, rows)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func values(_ count: Int, scale: Float) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1) * scale
            }
        }
        let storage = Storage()
        func matrix(_ n: Int, _ k: Int, blocks: [Range<Int>]) -> WeightMatrix {
            let plain = values(n * k, scale: 1 / Float(k).squareRoot())
            var w = WeightMatrix(rows: n, cols: k, values: plain, precision: precision)
            for block in blocks {
                guard let layout = OneDNNMatmul.shared.packedLayout(n: block.count, k: k, element: element) else { continue }
                let out = UnsafeMutableRawPointer.allocate(byteCount: layout.byteCount, alignment: 64)
                storage.blocks.append(out)
                let packed = w.withRawValues { OneDNNMatmul.shared.pack($0 + block.lowerBound * k * element.size, n: block.count, k: k, element: element, into: out) }
                if packed { w.packed.append(PackedWeights(rows: block, base: UnsafeRawPointer(out), byteCount: layout.byteCount, owner: storage)) }
            }
            return w
        }
        let qkv = matrix(3 * d, d, blocks: [0 ..< d, d ..< 2 * d, 2 * d ..< 3 * d])
        let out = matrix(d, d, blocks: [0 ..< d])
        let fc1 = matrix(i, d, blocks: [0 ..< i])
        let fc2 = matrix(d, i, blocks: [0 ..< d])
        let bias = [Float](repeating: 0.01, count: max(3 * d, i))
        let inputs = values(m * i, scale: 1)
        let a = UnsafeMutableRawPointer.allocate(byteCount: m * i * element.size, alignment: 64)
        let wide = UnsafeMutableRawPointer.allocate(byteCount: m * i * element.size, alignment: 64)
        let residual = UnsafeMutableRawPointer.allocate(byteCount: m * 3 * d * 4, alignment: 64)
        defer { a.deallocate(); wide.deallocate(); residual.deallocate() }
        inputs.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return }
            if element == .f32 { a.copyMemory(from: base, byteCount: m * i * 4) } else { BFloat16.convert(base, to: a.assumingMemoryBound(to: UInt16.self), count: m * i) }
        }
        residual.initializeMemory(as: Float.self, repeating: 0, count: m * 3 * d)
        func layer() {
            bias.withUnsafeBufferPointer { b in
                guard let B = b.baseAddress else { return }
                for part in 0 ..< 3 {
                    WeightProducts.fused(a, lda: d, rows: m, qkv, rowRange: part * d ..< (part + 1) * d, bias: B, into: wide + part * m * d * element.size,
                                         element: element, ldc: d)
                }
                WeightProducts.fused(a, lda: d, rows: m, out, bias: B, into: residual, element: .f32, ldc: d, accumulate: true)
                WeightProducts.fused(a, lda: d, rows: m, fc1, bias: B, activation: .quickGELU, into: wide, element: element, ldc: i)
                WeightProducts.fused(wide, lda: i, rows: m, fc2, bias: B, into: residual, element: .f32, ldc: d, accumulate: true)
            }
        }
        layer() // creates the primitives
        let clock = ContinuousClock()
        var best = Double.infinity
        let start = clock.now
        repeat {
            let t = clock.now
            layer()
            let c = (clock.now - t).components
            best = min(best, Double(c.seconds) + Double(c.attoseconds) * 1e-18)
        } while clock.now - start < .milliseconds(Int64(seconds * 1000))
        let flops = 2 * Double(m) * Double(d) * Double(3 * d + d + 2 * i)
        return best.isFinite && best > 0 ? flops / best / 1e9 : nil
    }
}
