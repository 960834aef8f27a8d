import COneDNN
import Foundation

/// bf16 matrix products through oneDNN's matmul primitive: `C (fp32) = bf16(A) · Wᵀ (+ C)`
/// with `W` already bf16 and fp32 accumulation.
///
/// Why oneDNN: it is the library torch runs on CPU, with JIT kernels for AMX (Sapphire Rapids)
/// and AVX512-BF16 (Cooper Lake, Zen 4); OpenBLAS 0.3.21 as Debian builds it has no bf16 GEMM.
/// Primitives are created once per shape and cached: a tower runs a handful of shapes per
/// batch size, and creating a primitive (JIT code generation) costs far more than executing one.
public final class OneDNNMatmul: @unchecked Sendable {
    public static let shared = OneDNNMatmul()

    private struct Key: Hashable {
        var m: Int, n: Int, k: Int, ldc: Int, accumulate: Bool
    }

    private final class Entry {
        let primitive: dnnl_primitive_t
        let src: dnnl_memory_desc_t
        let weights: dnnl_memory_desc_t
        let dst: dnnl_memory_desc_t
        let implementation: String
        init(primitive: dnnl_primitive_t, src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t, implementation: String) {
            self.primitive = primitive; self.src = src; self.weights = weights; self.dst = dst; self.implementation = implementation
        }
    }

    private let lock = NSLock()
    private var engine: dnnl_engine_t?
    private var cache: [Key: Entry] = [:]
    private var failure: String?
    private var warnedFallback = false

    private init() {}

    /// The kernel oneDNN picked for the most recent shape (e.g. `brg:avx512_core_amx`), for `doctor`.
    public private(set) var lastImplementation: String?

    /// `c[m × n] = bf16(a[m × k]) · w[n × k]ᵀ (+ c)`; `w` is row-major bf16 with row stride `k`.
    public func multiplyBF16(_ a: UnsafePointer<Float>, lda: Int, m: Int, weights w: UnsafePointer<UInt16>, n: Int, k: Int,
                             out c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        // Round the activations to bf16 (row by row, all cores).
        let converted = UnsafeMutablePointer<UInt16>.allocate(capacity: m * k)
        defer { converted.deallocate() }
        let aAddress = UInt(bitPattern: a), dAddress = UInt(bitPattern: converted)
        NeuralKernels.parallelFor(m, grain: max(1, 32768 / max(k, 1))) { range in
            guard let src = UnsafePointer<Float>(bitPattern: aAddress), let dst = UnsafeMutablePointer<UInt16>(bitPattern: dAddress) else { return }
            for r in range { BFloat16.convert(src + r * lda, to: dst + r * k, count: k) }
        }

        let key = Key(m: m, n: n, k: k, ldc: ldc, accumulate: accumulate)
        guard let entry = primitive(for: key) else {
            fallback(converted, m: m, weights: w, n: n, k: k, out: c, ldc: ldc, accumulate: accumulate)
            return
        }
        guard let engine else { return }
        var stream: dnnl_stream_t?
        var srcMem: dnnl_memory_t?, weiMem: dnnl_memory_t?, dstMem: dnnl_memory_t?
        defer {
            if let srcMem { dnnl_memory_destroy(srcMem) }
            if let weiMem { dnnl_memory_destroy(weiMem) }
            if let dstMem { dnnl_memory_destroy(dstMem) }
            if let stream { dnnl_stream_destroy(stream) }
        }
        var srcDesc = entry.src, weiDesc = entry.weights, dstDesc = entry.dst
        guard dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success,
              dnnl_memory_create(&srcMem, &srcDesc, engine, UnsafeMutableRawPointer(converted)) == dnnl_success,
              dnnl_memory_create(&weiMem, &weiDesc, engine, UnsafeMutableRawPointer(mutating: w)) == dnnl_success,
              dnnl_memory_create(&dstMem, &dstDesc, engine, UnsafeMutableRawPointer(c)) == dnnl_success else {
            fallback(converted, m: m, weights: w, n: n, k: k, out: c, ldc: ldc, accumulate: accumulate)
            return
        }
        var args = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: srcMem),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weiMem),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dstMem),
        ]
        // oneDNN runs on OpenMP here; its team size is the calling thread's setting.
        omp_set_num_threads(Int32(max(1, BLAS.threads)))
        let status = dnnl_primitive_execute(entry.primitive, stream, Int32(args.count), &args)
        if status != dnnl_success || dnnl_stream_wait(stream) != dnnl_success {
            fallback(converted, m: m, weights: w, n: n, k: k, out: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// Why oneDNN cannot run bf16 products here, nil while it can (checked by creating a small
    /// primitive).
    public func unavailableReason() -> String? {
        _ = primitive(for: Key(m: 16, n: 16, k: 16, ldc: 16, accumulate: false))
        lock.lock(); defer { lock.unlock() }
        return failure
    }

    /// oneDNN's version, e.g. `2.6.3`.
    public static var version: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }

    // MARK: Primitive cache

    private func primitive(for key: Key) -> Entry? {
        lock.lock(); defer { lock.unlock() }
        if let entry = cache[key] { return entry }
        if failure != nil { return nil }
        if engine == nil {
            var e: dnnl_engine_t?
            guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let e else {
                failure = "oneDNN could not create a CPU engine"
                return nil
            }
            engine = e
        }
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        var ok = Self.describe(&src, rows: key.m, cols: key.k, type: dnnl_bf16, rowStride: key.k, colStride: 1)
        // W is n × k row-major; the product needs k × n, which is W read column by column.
        ok = ok && Self.describe(&wei, rows: key.k, cols: key.n, type: dnnl_bf16, rowStride: 1, colStride: key.k)
        ok = ok && Self.describe(&dst, rows: key.m, cols: key.n, type: dnnl_f32, rowStride: key.ldc, colStride: 1)
        var desc = dnnl_matmul_desc_t()
        ok = ok && dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst) == dnnl_success
        var attr: dnnl_primitive_attr_t?
        var postOps: dnnl_post_ops_t?
        defer {
            if let postOps { dnnl_post_ops_destroy(postOps) }
            if let attr { dnnl_primitive_attr_destroy(attr) }
        }
        if ok && key.accumulate {
            ok = dnnl_primitive_attr_create(&attr) == dnnl_success
                && dnnl_post_ops_create(&postOps) == dnnl_success
                && dnnl_post_ops_append_sum(postOps, 1) == dnnl_success
                && dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success
        }
        var pd: dnnl_primitive_desc_t?
        ok = ok && withUnsafePointer(to: &desc) { d in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(d), attr, engine, nil) == dnnl_success
        }
        defer { if let pd { dnnl_primitive_desc_destroy(pd) } }
        var impl = "unknown"
        if ok, let pd {
            var text: UnsafePointer<CChar>?
            if dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &text) == dnnl_success, let text { impl = String(cString: text) }
        }
        var prim: dnnl_primitive_t?
        ok = ok && dnnl_primitive_create(&prim, pd) == dnnl_success
        guard ok, let prim else {
            failure = "oneDNN \(Self.version) has no bf16 matmul for this CPU"
            return nil
        }
        let entry = Entry(primitive: prim, src: src, weights: wei, dst: dst, implementation: impl)
        cache[key] = entry
        lastImplementation = impl
        return entry
    }

    private static func describe(_ md: inout dnnl_memory_desc_t, rows: Int, cols: Int, type: dnnl_data_type_t,
                                 rowStride: Int, colStride: Int) -> Bool {
        var dims = dnnl_dims_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var strides = dnnl_dims_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        dims.0 = Int64(rows); dims.1 = Int64(cols)
        strides.0 = Int64(rowStride); strides.1 = Int64(colStride)
        return withUnsafePointer(to: &dims) { d in
            withUnsafePointer(to: &strides) { s in
                d.withMemoryRebound(to: Int64.self, capacity: 12) { dp in
                    s.withMemoryRebound(to: Int64.self, capacity: 12) { sp in
                        dnnl_memory_desc_init_by_strides(&md, 2, dp, type, sp) == dnnl_success
                    }
                }
            }
        }
    }

    // MARK: Fallback

    /// Where oneDNN refuses (it should not, on a CPU that passed the bf16 check), the same product
    /// on the bf16-rounded values through fp32 `sgemm`: slower, numerically the same rounding.
    private func fallback(_ a: UnsafePointer<UInt16>, m: Int, weights w: UnsafePointer<UInt16>, n: Int, k: Int,
                          out c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        lock.lock()
        if !warnedFallback {
            warnedFallback = true
            FileHandle.standardError.write(Data("warning: \(failure ?? "oneDNN bf16 matmul failed"); bf16 products run through fp32 sgemm\n".utf8))
        }
        lock.unlock()
        let wide = UnsafeMutablePointer<Float>.allocate(capacity: (m + n) * k)
        defer { wide.deallocate() }
        for i in 0..<(m * k) { wide[i] = BFloat16.toFloat(a[i]) }
        for i in 0..<(n * k) { wide[m * k + i] = BFloat16.toFloat(w[i]) }
        BLAS.gemmRaw(wide, lda: k, transB: true, wide + m * k, ldb: k, m: m, n: n, k: k, out: c, ldc: ldc, beta: accumulate ? 1 : 0)
    }
}
