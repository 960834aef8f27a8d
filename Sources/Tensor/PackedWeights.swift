import COneDNN
import Foundation

/// A block of a weight matrix (rows `rows` of `W`) laid out the way oneDNN's kernel for it reads
/// its right-hand side, so a product reads it as is instead of re-laying it out on every call.
///
/// Packed blocks are made once, when the converted-weights cache is built (one reorder per
/// block, `OneDNNMatmul.pack`), and stored there next to the plain values, so every local worker
/// maps the same packed bytes. The layout depends on oneDNN's version and the CPU's kernel;
/// `OneDNNMatmul.packedLayout` names it by a fingerprint, which the cache records and checks on
/// load, so a cache packed elsewhere is rebuilt rather than misread. Products whose shape no
/// brgemm kernel takes in that layout run on the plain values, unchanged.
public struct PackedWeights: @unchecked Sendable {
    /// The rows of `W` the block holds (its `n`).
    public let rows: Range<Int>
    public let base: UnsafeRawPointer
    public let byteCount: Int
    /// Keeps the mapping `base` points into alive.
    public let owner: AnyObject

    public init(rows: Range<Int>, base: UnsafeRawPointer, byteCount: Int, owner: AnyObject) {
        self.rows = rows
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
    }
}

/// A packed layout's key: the block's `n × k` and element type.
struct PackedKey: Hashable {
    var n: Int
    var k: Int
    var element: MatmulOperand.Element

    init(n: Int, k: Int, element: MatmulOperand.Element) {
        self.n = n; self.k = k; self.element = element
    }

    init(_ shape: MatmulShape) {
        self.init(n: shape.n, k: shape.k, element: shape.weights.element)
    }
}

extension OneDNNMatmul {
    /// The rows a probe product has when choosing a packed layout: a tower's batch of rows.
    static let packingProbeRows = 1024

    /// The layout oneDNN's matmul prefers for the weights of an `n × k` block (`x · Wᵀ` with `W`
    /// row-major `n × k`): its size in bytes and a fingerprint (oneDNN's version, the kernel, a
    /// hash of the layout). Nil where oneDNN would read the plain layout anyway, or has no kernel.
    public func packedLayout(n: Int, k: Int, element: MatmulOperand.Element) -> (byteCount: Int, fingerprint: String)? {
        lock.lock(); defer { lock.unlock() }
        guard n > 0, k > 0, let engine = engineLocked() else { return nil }
        let type = element == .f32 ? dnnl_f32 : dnnl_bf16
        var src = dnnl_memory_desc_t(), any = dnnl_memory_desc_t(), plain = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        var srcDims: [Int64] = [Int64(Self.packingProbeRows), Int64(k)]
        var weightDims: [Int64] = [Int64(k), Int64(n)]
        var dstDims: [Int64] = [Int64(Self.packingProbeRows), Int64(n)]
        guard dnnl_memory_desc_init_by_tag(&src, 2, &srcDims, type, dnnl_ab) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&any, 2, &weightDims, type, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&plain, 2, &weightDims, type, dnnl_ba) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&dst, 2, &dstDims, dnnl_f32, dnnl_ab) == dnnl_success else { return nil }
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &src, &any, nil, &dst) == dnnl_success else { return nil }
        var pd: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&pd, &desc, nil, engine, nil) == dnnl_success, let pd else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        var text: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &text) == dnnl_success, let text else { return nil }
        let implementation = String(cString: text)
        guard implementation.contains("brg"), let chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)?.pointee else { return nil }
        var layout = chosen
        guard dnnl_memory_desc_equal(&layout, &plain) == 0 else { return nil }
        let bytes = Int(dnnl_memory_desc_get_size(&layout))
        packedDescriptors[PackedKey(n: n, k: k, element: element)] = layout
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        withUnsafeBytes(of: &layout) { raw in
            for byte in raw { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        return (bytes, "oneDNN \(Self.version) \(implementation) \(String(hash, radix: 16))")
    }

    /// Reorders the plain row-major `n × k` block `plain` into `out` (the `byteCount` bytes
    /// `packedLayout` gave for it, called first). False when oneDNN cannot.
    public func pack(_ plain: UnsafeRawPointer, n: Int, k: Int, element: MatmulOperand.Element, into out: UnsafeMutableRawPointer) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let engine = engineLocked(), var layout = packedDescriptors[PackedKey(n: n, k: k, element: element)] else { return false }
        var plainDesc = dnnl_memory_desc_t()
        var dims: [Int64] = [Int64(k), Int64(n)]
        guard dnnl_memory_desc_init_by_tag(&plainDesc, 2, &dims, element == .f32 ? dnnl_f32 : dnnl_bf16, dnnl_ba) == dnnl_success else { return false }
        var rpd: dnnl_primitive_desc_t?
        guard dnnl_reorder_primitive_desc_create(&rpd, &plainDesc, engine, &layout, engine, nil) == dnnl_success, let rpd else { return false }
        defer { dnnl_primitive_desc_destroy(rpd) }
        var reorder: dnnl_primitive_t?
        guard dnnl_primitive_create(&reorder, rpd) == dnnl_success, let reorder else { return false }
        defer { dnnl_primitive_destroy(reorder) }
        var from: dnnl_memory_t?, to: dnnl_memory_t?, stream: dnnl_stream_t?
        defer {
            if let from { dnnl_memory_destroy(from) }
            if let to { dnnl_memory_destroy(to) }
            if let stream { dnnl_stream_destroy(stream) }
        }
        guard dnnl_memory_create(&from, &plainDesc, engine, UnsafeMutableRawPointer(mutating: plain)) == dnnl_success,
              dnnl_memory_create(&to, &layout, engine, out) == dnnl_success,
              dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success else { return false }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
        return dnnl_primitive_execute(reorder, stream, 2, &args) == dnnl_success && dnnl_stream_wait(stream) == dnnl_success
    }
}
