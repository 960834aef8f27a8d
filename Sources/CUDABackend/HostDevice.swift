import Foundation
import Tensor

/// The device layer on the CPU: the test double of a GPU.
///
/// Every operation is queued and runs only when an event after it is waited for (or on
/// `synchronize`), as on a GPU stream: a tower that refilled a host buffer before its upload
/// had run would upload the new contents, and its features would come out wrong, so tests catch
/// broken double buffering. Memory is limited to `capacity` bytes and an allocation beyond it
/// throws `outOfMemory`, as `cuMemAlloc` does; `failGemmsAtOrAbove` makes products of that
/// many rows fail as a cuBLAS workspace allocation would. Products run through OpenBLAS after
/// widening 16-bit operands (exact), so results equal a GPU's up to summation order.
public final class HostDevice: DeviceLayer, @unchecked Sendable {
    public let lowPrecision: LowPrecision
    public var capacity: Int
    /// Products with at least this many rows (`m`, over the batch) fail with out-of-memory.
    public var failGemmsAtOrAbove: Int?
    public private(set) var allocated = 0
    public private(set) var peakAllocated = 0
    /// What ran, in order: "alloc N", "upload N", "download N", kernel names, "gemm MxNxK/B", "wait E".
    public private(set) var trace: [String] = []
    /// Operations enqueued and not yet run.
    public var pendingCount: Int { pending.count }

    private var memory: [UInt64: UnsafeMutableRawPointer] = [:]
    private var sizes: [UInt64: Int] = [:]
    private var nextAddress: UInt64 = 0x1000
    private var pending: [(id: Int, run: () -> Void)] = []
    private var nextOperation = 0
    private var completed = -1

    public init(lowPrecision: LowPrecision = .bf16, capacity: Int = 1 << 34) {
        self.lowPrecision = lowPrecision
        self.capacity = capacity
    }

    deinit { for p in memory.values { p.deallocate() } }

    public func memoryInfo() -> (free: Int, total: Int)? { (capacity - allocated, capacity) }

    public func allocate(bytes: Int, what: String) throws(GPUError) -> DeviceBuffer {
        guard bytes >= 0 else { throw .invalidInput("negative allocation for \(what)") }
        guard allocated + bytes <= capacity else { throw .outOfMemory(bytes: bytes, what: what) }
        let address = nextAddress
        nextAddress += UInt64((max(bytes, 1) + 255) / 256 * 256)
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0xA5, count: max(bytes, 1)) // garbage, as fresh GPU memory
        memory[address] = p
        sizes[address] = bytes
        allocated += bytes
        peakAllocated = max(peakAllocated, allocated)
        trace.append("alloc \(bytes)")
        return DeviceBuffer(address: address, bytes: bytes)
    }

    public func free(_ buffer: DeviceBuffer) {
        guard memory[buffer.address] != nil else { return }
        // Pending work may still use it (a GPU frees only after the stream passes): run it
        // first, while the buffer is still there (work left queued by a failed batch included).
        drain(through: nextOperation - 1)
        guard let p = memory.removeValue(forKey: buffer.address) else { return }
        p.deallocate()
        allocated -= sizes.removeValue(forKey: buffer.address) ?? 0
    }

    public func allocateHost(bytes: Int) throws(GPUError) -> HostBuffer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        return HostBuffer(pointer: p, bytes: bytes) { $0.deallocate() }
    }

    /// The host memory behind a buffer (the operations run on it).
    func pointer(_ buffer: DeviceBuffer, offset: Int = 0) -> UnsafeMutableRawPointer {
        guard let p = memory[buffer.address] else { preconditionFailure("use of a freed device buffer") }
        return p + offset
    }

    private func enqueue(_ label: String, _ run: @escaping () -> Void) {
        let id = nextOperation
        nextOperation += 1
        pending.append((id, { [unowned self] in self.trace.append(label); run() }))
    }

    private func checkRange(_ buffer: DeviceBuffer, _ offset: Int, _ bytes: Int, _ what: String) throws(GPUError) {
        guard memory[buffer.address] != nil else { throw .invalidInput("\(what): buffer was freed") }
        guard offset >= 0, bytes >= 0, offset + bytes <= buffer.bytes else {
            throw .invalidInput("\(what): \(bytes) bytes at \(offset) outside a buffer of \(buffer.bytes)")
        }
    }

    public func upload(_ source: UnsafeRawPointer, bytes: Int, to buffer: DeviceBuffer, offset: Int) throws(GPUError) {
        try checkRange(buffer, offset, bytes, "upload")
        let address = UInt(bitPattern: source)
        enqueue("upload \(bytes)") { [unowned self] in
            if let s = UnsafeRawPointer(bitPattern: address) { self.pointer(buffer, offset: offset).copyMemory(from: s, byteCount: bytes) }
        }
    }

    public func download(_ buffer: DeviceBuffer, offset: Int, bytes: Int, to destination: UnsafeMutableRawPointer) throws(GPUError) {
        try checkRange(buffer, offset, bytes, "download")
        let address = UInt(bitPattern: destination)
        enqueue("download \(bytes)") { [unowned self] in
            UnsafeMutableRawPointer(bitPattern: address)?.copyMemory(from: self.pointer(buffer, offset: offset), byteCount: bytes)
        }
    }

    public func launch(_ kernel: KernelCall) throws(GPUError) {
        enqueue(kernel.kernelName) { [unowned self] in HostKernels(device: self).run(kernel) }
    }

    public func gemm(_ g: GemmCall) throws(GPUError) {
        if let limit = failGemmsAtOrAbove, g.m * g.batch >= limit {
            throw .cublas(call: "cublasGemmStridedBatchedEx (simulated workspace allocation)", status: 3)
        }
        for (operand, rows, cols, name) in [(g.a, g.transA ? g.k : g.m, g.transA ? g.m : g.k, "A"),
                                            (g.b, g.transB ? g.n : g.k, g.transB ? g.k : g.n, "B"),
                                            (g.c, g.m, g.n, "C")] {
            let last = operand.offset + (g.batch - 1) * operand.stride + (rows - 1) * operand.ld + cols
            try checkRange(operand.buffer, 0, last * operand.type.size, "gemm operand \(name)")
        }
        enqueue("gemm \(g.m)x\(g.n)x\(g.k)/\(g.batch)") { [unowned self] in HostKernels(device: self).gemm(g) }
    }

    public func record() throws(GPUError) -> DeviceEvent { DeviceEvent(id: nextOperation - 1) }

    public func wait(_ event: DeviceEvent) throws(GPUError) {
        trace.append("wait \(event.id)")
        drain(through: event.id)
    }

    public func synchronize() throws(GPUError) { drain(through: nextOperation - 1) }

    private func drain(through id: Int) {
        while let first = pending.first, first.id <= id {
            pending.removeFirst()
            first.run()
            completed = first.id
        }
    }

    // MARK: Reading back (tests)

    /// A buffer's contents as fp32 (synchronizing first).
    public func floats(_ buffer: DeviceBuffer, count: Int, type: ElementType = .f32) -> [Float] {
        drain(through: nextOperation - 1)
        let p = pointer(buffer)
        switch type {
        case .f32: return Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: count))
        case .low: return (0..<count).map { LowBits.toFloat(p.load(fromByteOffset: $0 * 2, as: UInt16.self), lowPrecision) }
        case .u8: return (0..<count).map { Float(p.load(fromByteOffset: $0, as: UInt8.self)) }
        case .i32: return (0..<count).map { Float(p.load(fromByteOffset: $0 * 4, as: Int32.self)) }
        }
    }
}

/// 16-bit patterns of bf16 and fp16 (round to nearest even, as the kernels' `cvt.rn`).
public enum LowBits {
    public static func fromFloat(_ x: Float, _ p: LowPrecision) -> UInt16 {
        switch p {
        case .bf16: BFloat16.fromFloat(x)
        case .fp16: Float16(x).bitPattern
        }
    }

    public static func toFloat(_ h: UInt16, _ p: LowPrecision) -> Float {
        switch p {
        case .bf16: BFloat16.toFloat(h)
        case .fp16: Float(Float16(bitPattern: h))
        }
    }
}
