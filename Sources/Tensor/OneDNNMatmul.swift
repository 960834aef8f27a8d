import COneDNN
import Foundation

/// How one operand of a (batched) matrix product lies in memory: its element type and the
/// strides, in elements, of its outer batch, batch, row and column dimensions.
///
/// Strides let a product read a sub-block of a larger buffer in place: one head's queries inside
/// the fused `[Q | K | V]` rows, a weight matrix read column by column as its transpose.
public struct MatmulOperand: Hashable, Sendable {
    public enum Element: Hashable, Sendable {
        case f32, bf16

        /// Bytes per element.
        public var size: Int { self == .f32 ? 4 : 2 }
    }

    public var element: Element
    public var outerStride: Int
    public var batchStride: Int
    public var rowStride: Int
    public var colStride: Int

    public init(_ element: Element, outerStride: Int = 0, batchStride: Int = 0, rowStride: Int, colStride: Int = 1) {
        self.element = element
        self.outerStride = outerStride
        self.batchStride = batchStride
        self.rowStride = rowStride
        self.colStride = colStride
    }

    /// The element offset of `(outer, batch, row, col)`.
    @inline(__always)
    func offset(_ outer: Int, _ batch: Int, _ row: Int, _ col: Int) -> Int {
        outer * outerStride + batch * batchStride + row * rowStride + col * colStride
    }
}

/// An activation applied inside a product, to `A·B + bias`, in fp32 before the result is stored.
public enum MatmulActivation: Hashable, Sendable {
    /// `x · σ(1.702 x)` (OpenAI CLIP's QuickGELU; oneDNN's `swish` with alpha 1.702).
    case quickGELU
    /// The exact (erf) GELU.
    case gelu
    /// The tanh approximation of GELU.
    case geluTanh
    case relu
}

/// One product `dst[o, b] = act(src[o, b] · weights[o, b] + bias) (+ dst[o, b])` for `o` in
/// `0..<outer` and `b` in `0..<batch` (attention: sequences × heads): `src` is `m × k`,
/// `weights` `k × n`, `dst` `m × n`; the accumulation is always fp32.
///
/// Everything that decides which kernel oneDNN generates is in here, so a value of this type is
/// also the key under which the generated primitive is cached.
public struct MatmulShape: Hashable, Sendable {
    public var outer: Int
    public var batch: Int
    public var m: Int
    public var n: Int
    public var k: Int
    public var src: MatmulOperand
    public var weights: MatmulOperand
    public var dst: MatmulOperand
    /// An fp32 bias of `n` values, added to every row.
    public var bias: Bool
    public var activation: MatmulActivation?
    /// Adds the result to what `dst` holds (after the activation): a residual connection.
    public var accumulate: Bool
    /// Threads the product runs on. Part of the key because oneDNN sizes its work split when it
    /// generates the kernel, and a kernel made for two threads run on one thread's team is slower.
    public var threads: Int
    /// The weights are in the packed layout `OneDNNMatmul.packedLayout` gave for this `n × k`
    /// and element type (see PackedWeights.swift), not in `weights`' strides.
    public var packedWeights = false

    public init(outer: Int = 1, batch: Int = 1, m: Int, n: Int, k: Int, src: MatmulOperand, weights: MatmulOperand, dst: MatmulOperand,
                bias: Bool = false, activation: MatmulActivation? = nil, accumulate: Bool = false, threads: Int) {
        self.outer = outer; self.batch = batch; self.m = m; self.n = n; self.k = k
        self.src = src; self.weights = weights; self.dst = dst
        self.bias = bias; self.activation = activation; self.accumulate = accumulate
        self.threads = max(1, threads)
    }
}

/// bf16 matrix products through oneDNN's matmul primitive, with fp32 accumulation and the layer's
/// bias, activation and residual add fused in (computed in fp32 inside the kernel).
///
/// Why oneDNN: it is the library torch runs on CPU, with JIT kernels for AMX (Sapphire Rapids)
/// and AVX512-BF16 (Cooper Lake, Zen 4); OpenBLAS 0.3.21 as Debian builds it has no bf16 GEMM.
/// Primitives are created once per shape and cached: a tower runs a handful of shapes per
/// batch size, and creating a primitive (JIT code generation) costs far more than executing one.
///
/// Thread safety: the cache is behind a lock, and everything an execution writes besides its
/// output (the stream, the memory objects, oneDNN's scratchpad) is created for that call
/// (`dnnl_scratchpad_mode_user`), so any number of threads may run products at once.
public final class OneDNNMatmul: @unchecked Sendable {
    public static let shared = OneDNNMatmul()

    final class Entry {
        let primitive: dnnl_primitive_t
        let src: dnnl_memory_desc_t
        let weights: dnnl_memory_desc_t
        let dst: dnnl_memory_desc_t
        let bias: dnnl_memory_desc_t?
        let scratchpad: dnnl_memory_desc_t
        let scratchpadBytes: Int
        var implementation = ""
        init(primitive: dnnl_primitive_t, src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t,
             bias: dnnl_memory_desc_t?, scratchpad: dnnl_memory_desc_t, scratchpadBytes: Int) {
            self.primitive = primitive; self.src = src; self.weights = weights; self.dst = dst
            self.bias = bias; self.scratchpad = scratchpad; self.scratchpadBytes = scratchpadBytes
        }
    }

    let lock = NSLock()
    private var engine: dnnl_engine_t?
    private var cache: [MatmulShape: Entry] = [:]
    /// Shapes with packed weights that no fast kernel takes (their products run on the plain
    /// weights instead).
    private var refusedPacked: Set<MatmulShape> = []
    /// The packed layouts handed out by `packedLayout`, by weight block.
    var packedDescriptors: [PackedKey: dnnl_memory_desc_t] = [:]
    private var failure: String?
    private var warnedFallback = false
    private var implementation: String?
    private var f32Probe: Bool?

    private init() {}

    /// The kernel oneDNN picked for the most recent shape (e.g. `brg:avx512_core_amx`), for `doctor`.
    public var lastImplementation: String? {
        lock.lock(); defer { lock.unlock() }
        return implementation
    }

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
        let shape = MatmulShape(m: m, n: n, k: k, src: MatmulOperand(.bf16, rowStride: k),
                                weights: Self.transposedWeights(k: k), dst: MatmulOperand(.f32, rowStride: ldc),
                                accumulate: accumulate, threads: BLAS.threads)
        run(shape, src: converted, weights: w, bias: nil, dst: c)
    }

    /// The operand that reads a row-major `n × k` weight matrix (row stride `k`) as the `k × n`
    /// right-hand side of `x · Wᵀ`: column by column, no copy.
    public static func transposedWeights(k: Int, _ element: MatmulOperand.Element = .bf16) -> MatmulOperand {
        MatmulOperand(element, rowStride: 1, colStride: k)
    }

    /// Runs one product (see `MatmulShape`). Pointers are to element 0 of each operand; `bias`
    /// must be given exactly when `shape.bias` is set.
    public func run(_ shape: MatmulShape, src: UnsafeRawPointer, weights: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                    dst: UnsafeMutableRawPointer) {
        precondition(shape.bias == (bias != nil), "bias pointer and shape disagree")
        guard shape.outer > 0, shape.batch > 0, shape.m > 0, shape.n > 0, shape.k > 0 else { return }
        guard let entry = primitive(for: shape), let engine = currentEngine() else {
            reference(shape, src: src, weights: weights, bias: bias, dst: dst)
            return
        }
        var stream: dnnl_stream_t?
        var memories: [dnnl_memory_t?] = []
        let scratch = entry.scratchpadBytes > 0
            ? UnsafeMutableRawPointer.allocate(byteCount: entry.scratchpadBytes, alignment: 64) : nil
        defer {
            for case let memory? in memories { dnnl_memory_destroy(memory) }
            if let stream { dnnl_stream_destroy(stream) }
            scratch?.deallocate()
        }
        var args: [dnnl_exec_arg_t] = []
        func bind(_ arg: Int32, _ desc: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer?) -> Bool {
            var d = desc
            var memory: dnnl_memory_t?
            guard dnnl_memory_create(&memory, &d, engine, pointer) == dnnl_success else { return false }
            memories.append(memory)
            args.append(dnnl_exec_arg_t(arg: arg, memory: memory))
            return true
        }
        var ok = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success
        ok = ok && bind(DNNL_ARG_SRC, entry.src, UnsafeMutableRawPointer(mutating: src))
        ok = ok && bind(DNNL_ARG_WEIGHTS, entry.weights, UnsafeMutableRawPointer(mutating: weights))
        ok = ok && bind(DNNL_ARG_DST, entry.dst, dst)
        if let biasDesc = entry.bias, let bias { ok = ok && bind(DNNL_ARG_BIAS, biasDesc, UnsafeMutableRawPointer(mutating: bias)) }
        if let scratch { ok = ok && bind(DNNL_ARG_SCRATCHPAD, entry.scratchpad, scratch) }
        guard ok else {
            reference(shape, src: src, weights: weights, bias: bias, dst: dst)
            return
        }
        // oneDNN runs on OpenMP here; its team size is the calling thread's setting.
        omp_set_num_threads(Int32(shape.threads))
        let status = dnnl_primitive_execute(entry.primitive, stream, Int32(args.count), &args)
        if status != dnnl_success || dnnl_stream_wait(stream) != dnnl_success {
            // A failed execution has not written a result (oneDNN checks arguments before it
            // starts), so the reference product starts from the same `dst`.
            reference(shape, src: src, weights: weights, bias: bias, dst: dst)
        }
    }

    /// The kernel oneDNN runs `shape` on (e.g. `brg:avx512_core`), nil where it runs none.
    public func kernel(of shape: MatmulShape) -> String? {
        guard let entry = primitive(for: shape) else { return nil }
        lock.lock(); defer { lock.unlock() }
        return entry.implementation
    }

    /// True when `shape` runs on a oneDNN kernel (for packed weights: a brgemm kernel that takes
    /// the packed layout), so `run` would not take the reference path.
    public func canRun(_ shape: MatmulShape) -> Bool {
        primitive(for: shape) != nil
    }

    /// Why oneDNN cannot run bf16 products here, nil while it can (checked by creating a small
    /// primitive).
    public func unavailableReason() -> String? {
        _ = primitive(for: MatmulShape(m: 16, n: 16, k: 16, src: MatmulOperand(.bf16, rowStride: 16),
                                       weights: Self.transposedWeights(k: 16), dst: MatmulOperand(.f32, rowStride: 16), threads: 1))
        lock.lock(); defer { lock.unlock() }
        return failure
    }

    /// True when oneDNN runs fp32 products here (checked once by creating a small primitive):
    /// the fp32 towers then run through it, fused like the bf16 ones.
    public var supportsF32: Bool {
        lock.lock()
        let known = f32Probe
        lock.unlock()
        if let known { return known }
        let shape = MatmulShape(m: 16, n: 16, k: 16, src: MatmulOperand(.f32, rowStride: 16),
                                weights: Self.transposedWeights(k: 16, .f32), dst: MatmulOperand(.f32, rowStride: 16), threads: 1)
        let ok = primitive(for: shape) != nil
        lock.lock()
        f32Probe = ok
        lock.unlock()
        return ok
    }

    /// oneDNN's version, e.g. `2.6.3`.
    public static var version: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }

    // MARK: Primitive cache

    private func currentEngine() -> dnnl_engine_t? {
        lock.lock(); defer { lock.unlock() }
        return engine
    }

    /// The CPU engine, created on first use; nil when oneDNN cannot create one. Call with `lock` held.
    func engineLocked() -> dnnl_engine_t? {
        if engine == nil {
            var e: dnnl_engine_t?
            guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let e else {
                failure = "oneDNN could not create a CPU engine"
                return nil
            }
            engine = e
        }
        return engine
    }

    private func primitive(for shape: MatmulShape) -> Entry? {
        lock.lock(); defer { lock.unlock() }
        if let entry = cache[shape] { return entry }
        // No bf16 matmul here (found once) says nothing about fp32 ones.
        if failure != nil && shape.src.element == .bf16 { return nil }
        guard let engine = engineLocked() else { return nil }
        if shape.packedWeights {
            guard !refusedPacked.contains(shape), let packed = packedDescriptors[PackedKey(shape)],
                  let entry = Self.create(shape, engine: engine, packed: packed), entry.implementation.contains("brg") else {
                refusedPacked.insert(shape)
                return nil
            }
            entry.entry.implementation = entry.implementation
            cache[shape] = entry.entry
            return entry.entry
        }
        guard let entry = Self.create(shape, engine: engine) else {
            // The plain product failing means no bf16 matmul at all on this CPU; a fused variant
            // failing alone still runs, through the reference path.
            if !shape.bias && shape.activation == nil && shape.batch == 1 && shape.outer == 1 && shape.src.element == .bf16 {
                failure = "oneDNN \(Self.version) has no bf16 matmul for this CPU"
            }
            return nil
        }
        entry.entry.implementation = entry.implementation
        cache[shape] = entry.entry
        implementation = entry.implementation
        return entry.entry
    }

    static func create(_ shape: MatmulShape, engine: dnnl_engine_t?, packed: dnnl_memory_desc_t? = nil) -> (entry: Entry, implementation: String)? {
        // 2-D for one product, else 4-D (outer, batch, rows, cols) even where `outer` is 1: the
        // attention layouts `[sequence, head, position, dh]` read in place are dense 4-D layouts
        // (oneDNN's "acbd"), which its brgemm kernels take; as 3-D they would not be dense.
        let ndims = shape.outer > 1 || shape.batch > 1 ? 4 : 2
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t(), bias = dnnl_memory_desc_t()
        var ok = describe(&src, ndims, [shape.outer, shape.batch, shape.m, shape.k], shape.src)
        if let packed { wei = packed } else { ok = ok && describe(&wei, ndims, [shape.outer, shape.batch, shape.k, shape.n], shape.weights) }
        ok = ok && describe(&dst, ndims, [shape.outer, shape.batch, shape.m, shape.n], shape.dst)
        if shape.bias {
            let n = shape.n
            ok = ok && describe(&bias, ndims, [1, 1, 1, n], MatmulOperand(.f32, outerStride: n, batchStride: n, rowStride: n))
        }
        var desc = dnnl_matmul_desc_t()
        ok = ok && withUnsafePointer(to: &bias) { b in
            dnnl_matmul_desc_init(&desc, &src, &wei, shape.bias ? b : nil, &dst) == dnnl_success
        }
        var attr: dnnl_primitive_attr_t?
        var postOps: dnnl_post_ops_t?
        defer {
            if let postOps { dnnl_post_ops_destroy(postOps) }
            if let attr { dnnl_primitive_attr_destroy(attr) }
        }
        ok = ok && dnnl_primitive_attr_create(&attr) == dnnl_success
            && dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success
            && dnnl_post_ops_create(&postOps) == dnnl_success
        // Post-ops run in the order appended: the activation on `A·B + bias`, then the residual.
        if ok, let activation = shape.activation {
            let (kind, alpha) = eltwise(activation)
            ok = dnnl_post_ops_append_eltwise(postOps, 1, kind, alpha, 0) == dnnl_success
        }
        if ok && shape.accumulate { ok = dnnl_post_ops_append_sum(postOps, 1) == dnnl_success }
        ok = ok && dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success
        // oneDNN sizes its work split by the creating thread's OpenMP team.
        omp_set_num_threads(Int32(shape.threads))
        var pd: dnnl_primitive_desc_t?
        ok = ok && withUnsafePointer(to: &desc) { d in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(d), attr, engine, nil) == dnnl_success
        }
        defer { if let pd { dnnl_primitive_desc_destroy(pd) } }
        guard ok, let pd else { return nil }
        var impl = "unknown"
        var text: UnsafePointer<CChar>?
        if dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &text) == dnnl_success, let text { impl = String(cString: text) }
        guard let scratchDesc = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) else { return nil }
        let scratchpad = scratchDesc.pointee
        let scratchBytes = withUnsafePointer(to: scratchpad) { Int(dnnl_memory_desc_get_size($0)) }
        var prim: dnnl_primitive_t?
        guard dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else { return nil }
        return (Entry(primitive: prim, src: src, weights: wei, dst: dst, bias: shape.bias ? bias : nil,
                      scratchpad: scratchpad, scratchpadBytes: scratchBytes), impl)
    }

    private static func eltwise(_ activation: MatmulActivation) -> (dnnl_alg_kind_t, Float) {
        switch activation {
        case .quickGELU: (dnnl_eltwise_swish, 1.702)
        case .gelu: (dnnl_eltwise_gelu_erf, 0)
        case .geluTanh: (dnnl_eltwise_gelu_tanh, 0)
        case .relu: (dnnl_eltwise_relu, 0)
        }
    }

    /// A memory descriptor over the last `ndims` of `dims` (outer, batch, rows, cols) with the
    /// operand's strides.
    private static func describe(_ md: inout dnnl_memory_desc_t, _ ndims: Int, _ dims: [Int], _ operand: MatmulOperand) -> Bool {
        var allStrides = [operand.outerStride, operand.batchStride, operand.rowStride, operand.colStride]
        // A dimension of extent 1 is never stepped along; give it the stride a dense layout
        // would (the whole extent of the others) rather than an unset 0.
        let extent = zip(dims, allStrides).map { $0 * $1 }.max() ?? 1
        for i in 0..<4 where dims[i] == 1 && allStrides[i] == 0 { allStrides[i] = max(1, extent) }
        var d = dnnl_dims_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var s = dnnl_dims_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &d) { dp in
            withUnsafeMutableBytes(of: &s) { sp in
                for i in 0..<ndims {
                    dp.storeBytes(of: Int64(dims[4 - ndims + i]), toByteOffset: i * 8, as: Int64.self)
                    sp.storeBytes(of: Int64(allStrides[4 - ndims + i]), toByteOffset: i * 8, as: Int64.self)
                }
            }
        }
        let type = operand.element == .f32 ? dnnl_f32 : dnnl_bf16
        return withUnsafePointer(to: &d) { dp in
            withUnsafePointer(to: &s) { sp in
                dp.withMemoryRebound(to: Int64.self, capacity: 12) { dims in
                    sp.withMemoryRebound(to: Int64.self, capacity: 12) { strides in
                        dnnl_memory_desc_init_by_strides(&md, Int32(ndims), dims, type, strides) == dnnl_success
                    }
                }
            }
        }
    }

    // MARK: Reference path

    /// Where oneDNN refuses (a CPU without bf16 support, or a fused variant it has no kernel
    /// for), the same product on the same bf16 values through fp32 `sgemm`, with the bias,
    /// activation and residual applied in fp32 afterwards: slower, numerically the same rounding.
    private func reference(_ shape: MatmulShape, src: UnsafeRawPointer, weights: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                           dst: UnsafeMutableRawPointer) {
        lock.lock()
        if !warnedFallback {
            warnedFallback = true
            FileHandle.standardError.write(Data("warning: \(failure ?? "oneDNN bf16 matmul failed"); bf16 products run through fp32 sgemm\n".utf8))
        }
        lock.unlock()
        let (m, n, k) = (shape.m, shape.n, shape.k)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for index in 0..<(shape.outer * shape.batch) {
            let (outer, batch) = index.quotientAndRemainder(dividingBy: shape.batch)
            Self.gather(src, shape.src, outer, batch, rows: m, cols: k, into: a)
            Self.gather(weights, shape.weights, outer, batch, rows: k, cols: n, into: b)
            BLAS.gemmRaw(a, lda: k, transB: false, b, ldb: n, m: m, n: n, k: k, out: c, ldc: n)
            if let bias { NeuralKernels.addBias(c, rows: m, cols: n, bias: bias) }
            switch shape.activation {
            case nil: break
            case .quickGELU?: NeuralKernels.quickGELU(c, count: m * n)
            case .gelu?: NeuralKernels.gelu(c, count: m * n)
            case .geluTanh?: NeuralKernels.geluTanh(c, count: m * n)
            case .relu?: NeuralKernels.relu(c, count: m * n)
            }
            let o = shape.dst
            for i in 0..<m {
                for j in 0..<n {
                    let offset = o.offset(outer, batch, i, j)
                    var value = c[i * n + j]
                    if shape.accumulate { value += Self.load(UnsafeRawPointer(dst), o.element, offset) }
                    switch o.element {
                    case .f32: dst.storeBytes(of: value, toByteOffset: offset * 4, as: Float.self)
                    case .bf16: dst.storeBytes(of: BFloat16.fromFloat(value), toByteOffset: offset * 2, as: UInt16.self)
                    }
                }
            }
        }
    }

    /// One batch entry of an operand, widened to a contiguous row-major fp32 `rows × cols`.
    private static func gather(_ base: UnsafeRawPointer, _ operand: MatmulOperand, _ outer: Int, _ batch: Int, rows: Int, cols: Int,
                               into out: UnsafeMutablePointer<Float>) {
        for i in 0..<rows {
            for j in 0..<cols {
                out[i * cols + j] = load(base, operand.element, operand.offset(outer, batch, i, j))
            }
        }
    }

    @inline(__always)
    private static func load(_ base: UnsafeRawPointer, _ element: MatmulOperand.Element, _ offset: Int) -> Float {
        switch element {
        case .f32: base.load(fromByteOffset: offset * 4, as: Float.self)
        case .bf16: BFloat16.toFloat(base.load(fromByteOffset: offset * 2, as: UInt16.self))
        }
    }
}
