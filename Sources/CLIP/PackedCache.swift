import Foundation
import Tensor

/// The packed copies of the encoders' product weights inside a converted-weights cache (see
/// `PackedWeights`): which blocks a weight is packed in, their tensor names, and the signature
/// that says for which oneDNN and CPU kernel they were packed.
///
/// A packed block is stored as a `U8` tensor named `<weight>.packed.<first>-<end>` (rows
/// `first..<end` of the weight), covered by the entry's data checksum like every other tensor.
/// The file's `adaneg_packing` metadata lists each block shape's layout fingerprint; a load on a
/// machine where oneDNN would pick another layout (another CPU, another oneDNN, a lowered
/// `ONEDNN_MAX_CPU_ISA`) finds a different signature, and the entry is rebuilt.
enum PackedCache {
    static let marker = ".packed."

    /// The row blocks the encoder multiplies `name` by: Q, K and V separately for the fused
    /// projection, the whole matrix otherwise; empty for weights the encoder does not multiply
    /// through oneDNN (the patch embedding).
    static func blocks(of name: String, rows: Int) -> [Range<Int>] {
        guard name.contains(".encoder.layers."), name.hasSuffix(".weight") else { return [] }
        if name.contains("." + CheckpointNames.fusedQKV + ".") {
            let d = rows / 3
            return [0 ..< d, d ..< 2 * d, 2 * d ..< 3 * d]
        }
        return CheckpointNames.isProductWeight(name) ? [0 ..< rows] : []
    }

    static func tensorName(_ weight: String, _ block: Range<Int>) -> String {
        "\(weight)\(marker)\(block.lowerBound)-\(block.upperBound)"
    }

    /// One line per distinct block shape, `n k element fingerprint`, sorted: what the file
    /// records and what a load compares. Nil when some block has no packed layout here (then
    /// nothing is packed).
    static func signature(_ shapes: Set<PackedShape>) -> String? {
        var lines: [String] = []
        for shape in shapes {
            guard let layout = OneDNNMatmul.shared.packedLayout(n: shape.n, k: shape.k, element: shape.element) else { return nil }
            lines.append("\(shape.n) \(shape.k) \(shape.element == .f32 ? "f32" : "bf16") \(layout.fingerprint)")
        }
        return lines.sorted().joined(separator: "\n")
    }

    struct PackedShape: Hashable {
        var n: Int
        var k: Int
        var element: MatmulOperand.Element
    }

    /// The block shapes the weights among `tensors` (name, shape, dtype) are packed in.
    static func shapes(_ tensors: [(name: String, shape: [Int], dtype: String)]) -> Set<PackedShape> {
        var shapes: Set<PackedShape> = []
        for t in tensors where t.shape.count == 2 && (t.dtype == "F32" || t.dtype == "BF16") {
            for block in blocks(of: t.name, rows: t.shape[0]) {
                shapes.insert(PackedShape(n: block.count, k: t.shape[1], element: t.dtype == "BF16" ? .bf16 : .f32))
            }
        }
        return shapes
    }

    /// The signature a cache file's weights should be packed under on this machine ("" when
    /// they are not packed here).
    static func expectedSignature(of file: SafetensorsFile) -> String {
        signature(shapes(file.tensors.map { (name: $0.key, shape: $0.value.shape, dtype: $0.value.dtype) })) ?? ""
    }

    /// `(weight name, rows)` of a packed tensor's name, nil for any other name.
    static func parse(_ name: String) -> (String, Range<Int>)? {
        guard let marker = name.range(of: marker, options: .backwards) else { return nil }
        let bounds = name[marker.upperBound...].split(separator: "-")
        guard bounds.count == 2, let lo = Int(bounds[0]), let hi = Int(bounds[1]), lo >= 0, hi > lo else { return nil }
        return (String(name[..<marker.lowerBound]), lo ..< hi)
    }

    /// The packed bytes of `block` of a plain row-major weight (`rows × cols` of `element`,
    /// `plain` its bytes), nil where oneDNN cannot pack it.
    static func pack(_ plain: Data, cols: Int, block: Range<Int>, element: MatmulOperand.Element) -> Data? {
        guard let layout = OneDNNMatmul.shared.packedLayout(n: block.count, k: cols, element: element) else { return nil }
        var out = Data(count: layout.byteCount)
        let ok = plain.withUnsafeBytes { source in
            out.withUnsafeMutableBytes { target in
                guard let s = source.baseAddress, let t = target.baseAddress else { return false }
                return OneDNNMatmul.shared.pack(s + block.lowerBound * cols * element.size, n: block.count, k: cols,
                                                element: element, into: t)
            }
        }
        return ok ? out : nil
    }

    /// The packed blocks of `weight` in a cache file whose signature holds here, mapped in place.
    static func mapped(_ weight: String, in file: SafetensorsFile, rows: Int, cols: Int, element: MatmulOperand.Element,
                       signatureHolds: Bool) -> [PackedWeights] {
        guard signatureHolds else { return [] }
        var result: [PackedWeights] = []
        for block in blocks(of: weight, rows: rows) {
            let name = tensorName(weight, block)
            guard let layout = OneDNNMatmul.shared.packedLayout(n: block.count, k: cols, element: element),
                  let info = file.tensors[name], info.dtype == "U8", info.offsets.count == layout.byteCount,
                  let (base, owner) = file.mappedBytes(name) else { return [] }
            result.append(PackedWeights(rows: block, base: base, byteCount: layout.byteCount, owner: owner))
        }
        return result
    }
}
