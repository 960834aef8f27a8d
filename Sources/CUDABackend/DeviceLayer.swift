import CLIP

/// The few things the GPU towers ask of a device: memory, copies, kernel launches, matrix
/// products, and waiting. `CUDADevice` implements it on a GPU; `HostDevice` implements it on the
/// CPU, deferring every operation until it is waited for as a GPU stream would, so the towers'
/// orchestration (batching, double buffering, out-of-memory retries, the kernel sequence) is
/// tested without a GPU against the CPU implementation of CLIP.
///
/// All operations are asynchronous and ordered (one stream): a host pointer given to `upload`
/// or `download` must stay untouched until an event recorded after it has been waited for.
public protocol DeviceLayer: AnyObject {
    /// The 16-bit format weights and product inputs are held in.
    var lowPrecision: LowPrecision { get }
    /// Free and total device memory, when known.
    func memoryInfo() -> (free: Int, total: Int)?
    func allocate(bytes: Int, what: String) throws(GPUError) -> DeviceBuffer
    func free(_ buffer: DeviceBuffer)
    /// Page-locked host memory (asynchronous copies need it).
    func allocateHost(bytes: Int) throws(GPUError) -> HostBuffer
    func upload(_ source: UnsafeRawPointer, bytes: Int, to buffer: DeviceBuffer, offset: Int) throws(GPUError)
    func download(_ buffer: DeviceBuffer, offset: Int, bytes: Int, to destination: UnsafeMutableRawPointer) throws(GPUError)
    func launch(_ kernel: KernelCall) throws(GPUError)
    func gemm(_ product: GemmCall) throws(GPUError)
    /// Marks the stream's current position.
    func record() throws(GPUError) -> DeviceEvent
    /// Blocks the host until everything before `event` has run.
    func wait(_ event: DeviceEvent) throws(GPUError)
    func synchronize() throws(GPUError)
}

/// bf16 (the default: fp32's range) or fp16 (more mantissa, less range).
public enum LowPrecision: String, Sendable, CaseIterable {
    case bf16
    case fp16
}

/// Element types of device buffers.
public enum ElementType: Sendable, Equatable {
    case f32, low, u8, i32
    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .low: 2
        case .u8: 1
        }
    }
}

/// A device allocation: an opaque address and its size in bytes.
public struct DeviceBuffer: Sendable, Hashable {
    public let address: UInt64
    public let bytes: Int
    public init(address: UInt64, bytes: Int) {
        self.address = address
        self.bytes = bytes
    }
}

/// A position in the stream.
public struct DeviceEvent: Sendable, Hashable {
    public let id: Int
    let handle: UInt
    public init(id: Int, handle: UInt = 0) {
        self.id = id
        self.handle = handle
    }
}

/// Host memory with the function that releases it (pinned for a GPU, ordinary for the double).
public final class HostBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let bytes: Int
    let release: @Sendable (UnsafeMutableRawPointer) -> Void

    public init(pointer: UnsafeMutableRawPointer, bytes: Int, release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) {
        self.pointer = pointer
        self.bytes = bytes
        self.release = release
    }

    deinit { release(pointer) }
}

// MARK: - Kernels

/// One launch of a kernel of `Kernels/kernels.cu`, with its arguments, by meaning rather than
/// by raw parameter list: the CUDA device turns it into `cuLaunchKernel` arguments and a grid,
/// the host device runs the same computation in Swift.
public enum KernelCall: Sendable {
    case pixelsToPatches(pixels: DeviceBuffer, patches: DeviceBuffer, batch: Int, size: Int, patch: Int,
                         mean: [Float], std: [Float])
    case assembleTokens(patchOut: DeviceBuffer, cls: DeviceBuffer, pos: DeviceBuffer, x: DeviceBuffer, batch: Int, tokens: Int, hidden: Int)
    case embedTokens(ids: DeviceBuffer, table: DeviceBuffer, pos: DeviceBuffer, x: DeviceBuffer, rows: Int, seq: Int, hidden: Int)
    /// `outF` (fp32) and/or `outLow` (low precision).
    case layerNorm(x: DeviceBuffer, gamma: DeviceBuffer, beta: DeviceBuffer, outF: DeviceBuffer?, outLow: DeviceBuffer?,
                   rows: Int, cols: Int, eps: Float)
    case biasActivation(input: DeviceBuffer, bias: DeviceBuffer, out: DeviceBuffer, rows: Int, cols: Int, activation: Activation?)
    case addBias(x: DeviceBuffer, bias: DeviceBuffer, rows: Int, cols: Int)
    case splitHeads(qkv: DeviceBuffer, bias: DeviceBuffer, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                    batch: Int, seq: Int, heads: Int, headDim: Int)
    case softmax(scores: DeviceBuffer, probs: DeviceBuffer, rows: Int, seq: Int, causal: Bool)
    case mergeHeads(o: DeviceBuffer, out: DeviceBuffer, batch: Int, seq: Int, heads: Int, headDim: Int)
    case gatherRows(x: DeviceBuffer, rows: DeviceBuffer, out: DeviceBuffer, count: Int, cols: Int)
    case l2Normalize(x: DeviceBuffer, rows: Int, cols: Int)
    case castToLow(input: DeviceBuffer, out: DeviceBuffer, count: Int)

    /// The `extern "C"` name in kernels.cu.
    public var kernelName: String {
        switch self {
        case .pixelsToPatches: "adaneg_pixels_to_patches"
        case .assembleTokens: "adaneg_assemble_tokens"
        case .embedTokens: "adaneg_embed_tokens"
        case .layerNorm: "adaneg_layernorm"
        case .biasActivation: "adaneg_bias_activation"
        case .addBias: "adaneg_add_bias"
        case .splitHeads: "adaneg_split_heads"
        case .softmax: "adaneg_softmax"
        case .mergeHeads: "adaneg_merge_heads"
        case .gatherRows: "adaneg_gather_rows"
        case .l2Normalize: "adaneg_l2_normalize"
        case .castToLow: "adaneg_cast_to_lowp"
        }
    }
}

extension Activation {
    /// The `act` code of `adaneg_bias_activation`.
    var kernelCode: Int32 {
        switch self {
        case .quickGELU: 1
        case .gelu: 2
        case .geluTanh: 3
        case .relu: 4
        }
    }
}

// MARK: - Products

/// A matrix operand: a buffer, an element offset, its row stride (leading dimension, row-major)
/// and the element distance between consecutive matrices of a batch.
public struct GemmOperand: Sendable {
    public var buffer: DeviceBuffer
    public var offset: Int
    public var ld: Int
    public var stride: Int
    public var type: ElementType

    public init(_ buffer: DeviceBuffer, offset: Int = 0, ld: Int, stride: Int = 0, type: ElementType) {
        self.buffer = buffer
        self.offset = offset
        self.ld = ld
        self.stride = stride
        self.type = type
    }
}

/// `C[i] = alpha · op(A[i]) · op(B[i]) + beta · C[i]` for `i < batch`, row-major: `op(A)` is
/// `m × k`, `op(B)` is `k × n`, `C` is `m × n`; fp32 accumulation always. A linear layer is
/// `A = x`, `B = W` transposed (`W` stored `out × in`).
public struct GemmCall: Sendable {
    public var m: Int, n: Int, k: Int
    public var a: GemmOperand, transA: Bool
    public var b: GemmOperand, transB: Bool
    public var c: GemmOperand
    public var alpha: Float = 1
    public var beta: Float = 0
    public var batch: Int = 1

    public init(m: Int, n: Int, k: Int, a: GemmOperand, transA: Bool = false, b: GemmOperand, transB: Bool = false,
                c: GemmOperand, alpha: Float = 1, beta: Float = 0, batch: Int = 1) {
        self.m = m; self.n = n; self.k = k
        self.a = a; self.transA = transA
        self.b = b; self.transB = transB
        self.c = c
        self.alpha = alpha; self.beta = beta; self.batch = batch
    }

    /// `2·m·n·k·batch`, for throughput figures.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(batch) }
}

/// The same product as cuBLAS (column-major) sees it: a row-major `C = op(A)·op(B)` is the
/// column-major `Cᵀ = op(B)ᵀ·op(A)ᵀ`, and a row-major matrix with row stride `ld` is its
/// transpose in column-major with leading dimension `ld`. So the operands swap, the
/// transposition flags stay with their operand, and `m` and `n` swap.
public struct ColumnMajorGemm: Sendable, Equatable {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int
    public var lda: Int, ldb: Int, ldc: Int
    public var strideA: Int, strideB: Int, strideC: Int
    /// Which row-major operand is cuBLAS' A (true: the call's B).
    public var swapped: Bool

    public init(_ g: GemmCall) {
        transA = g.transB
        transB = g.transA
        m = g.n
        n = g.m
        k = g.k
        lda = g.b.ld
        ldb = g.a.ld
        ldc = g.c.ld
        strideA = g.b.stride
        strideB = g.a.stride
        strideC = g.c.stride
        swapped = true
    }
}
