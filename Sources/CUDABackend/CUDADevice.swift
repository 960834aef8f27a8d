import CCUDA
import Foundation

/// The device layer on an NVIDIA GPU: one primary context, one stream, cuBLAS on that stream,
/// and the kernels compiled by NVRTC for this device's architecture when the device opens.
public final class CUDADevice: DeviceLayer, @unchecked Sendable {
    public let lowPrecision: LowPrecision
    public let runtime: CUDARuntime
    public let properties: GPUProperties
    let device: ccuda_device
    let context: ccuda_context
    let stream: ccuda_stream
    let handle: ccublas_handle
    var functions: [String: ccuda_function] = [:]
    private var events: [Int: ccuda_event] = [:]
    private var nextEvent = 0

    /// Opens device `index`, compiles and loads the kernels. Errors say what is missing.
    public init(runtime: CUDARuntime, index: Int, lowPrecision: LowPrecision = .bf16) throws(GPUError) {
        self.runtime = runtime
        self.lowPrecision = lowPrecision
        let d = runtime.driver
        let count = try d.deviceCount()
        guard index >= 0, index < count else { throw .deviceOutOfRange(index: index, count: count) }
        properties = try d.properties(of: index)
        var dev: ccuda_device = 0
        try d.check(d.deviceGet(&dev, Int32(index)), "cuDeviceGet")
        device = dev
        var ctx: ccuda_context?
        try d.check(d.primaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        guard let ctx else { throw .driver(call: "cuDevicePrimaryCtxRetain", code: -1, message: "no context") }
        context = ctx
        try d.check(d.ctxSetCurrent(ctx), "cuCtxSetCurrent")
        var s: ccuda_stream?
        try d.check(d.streamCreate(&s, 1), "cuStreamCreate") // CU_STREAM_NON_BLOCKING
        guard let s else { throw .driver(call: "cuStreamCreate", code: -1, message: "no stream") }
        stream = s
        var h: ccublas_handle?
        try runtime.cublas.check(runtime.cublas.create(&h), "cublasCreate")
        guard let h else { throw .cublas(call: "cublasCreate", status: -1) }
        handle = h
        try runtime.cublas.check(runtime.cublas.setStream(h, s), "cublasSetStream")
        let ptx = try KernelSource.compile(with: runtime.nvrtc, architecture: properties.architecture, precision: lowPrecision)
        var module: ccuda_module?
        try ptx.withUnsafeBufferPointer { (p) throws(GPUError) in try d.check(d.moduleLoadData(&module, p.baseAddress), "cuModuleLoadData (kernels for \(properties.architecture))") }
        guard let module else { throw .driver(call: "cuModuleLoadData", code: -1, message: "no module") }
        for name in KernelSource.kernelNames {
            var f: ccuda_function?
            let r = d.moduleGetFunction(&f, module, name)
            guard r == 0, let f else { throw .kernelNotFound(name: name) }
            functions[name] = f
        }
    }

    deinit {
        _ = runtime.driver.streamSynchronize(stream)
        for e in events.values { _ = runtime.driver.eventDestroy(e) }
        _ = runtime.cublas.destroy(handle)
        _ = runtime.driver.streamDestroy(stream)
        _ = runtime.driver.primaryCtxRelease(device)
    }

    private func current() throws(GPUError) { try runtime.driver.check(runtime.driver.ctxSetCurrent(context), "cuCtxSetCurrent") }

    public func memoryInfo() -> (free: Int, total: Int)? {
        var free = 0, total = 0
        guard (try? current()) != nil, runtime.driver.memGetInfo(&free, &total) == 0 else { return nil }
        return (free, total)
    }

    public func allocate(bytes: Int, what: String) throws(GPUError) -> DeviceBuffer {
        try current()
        var p: ccuda_deviceptr = 0
        let r = runtime.driver.memAlloc(&p, max(bytes, 1))
        if r == ccuda_result(CCUDA_ERROR_OUT_OF_MEMORY) { throw .outOfMemory(bytes: bytes, what: what) }
        try runtime.driver.check(r, "cuMemAlloc(\(bytes) bytes for \(what))")
        return DeviceBuffer(address: p, bytes: bytes)
    }

    public func free(_ buffer: DeviceBuffer) {
        _ = runtime.driver.streamSynchronize(stream)
        _ = runtime.driver.memFree(buffer.address)
    }

    public func allocateHost(bytes: Int) throws(GPUError) -> HostBuffer {
        try current()
        var p: UnsafeMutableRawPointer?
        let r = runtime.driver.memHostAlloc(&p, max(bytes, 1), 0)
        if r == ccuda_result(CCUDA_ERROR_OUT_OF_MEMORY) { throw .outOfMemory(bytes: bytes, what: "pinned host buffer") }
        try runtime.driver.check(r, "cuMemHostAlloc(\(bytes))")
        guard let p else { throw .outOfMemory(bytes: bytes, what: "pinned host buffer") }
        let freeHost = runtime.driver.memFreeHost
        return HostBuffer(pointer: p, bytes: bytes) { _ = freeHost($0) }
    }

    public func upload(_ source: UnsafeRawPointer, bytes: Int, to buffer: DeviceBuffer, offset: Int) throws(GPUError) {
        guard offset >= 0, offset + bytes <= buffer.bytes else { throw .invalidInput("upload of \(bytes) bytes at \(offset) into \(buffer.bytes)") }
        try runtime.driver.check(runtime.driver.memcpyHtoDAsync(buffer.address + UInt64(offset), source, bytes, stream), "cuMemcpyHtoDAsync")
    }

    public func download(_ buffer: DeviceBuffer, offset: Int, bytes: Int, to destination: UnsafeMutableRawPointer) throws(GPUError) {
        guard offset >= 0, offset + bytes <= buffer.bytes else { throw .invalidInput("download of \(bytes) bytes at \(offset) from \(buffer.bytes)") }
        try runtime.driver.check(runtime.driver.memcpyDtoHAsync(destination, buffer.address + UInt64(offset), bytes, stream), "cuMemcpyDtoHAsync")
    }

    public func launch(_ kernel: KernelCall) throws(GPUError) {
        let plan = LaunchPlan(kernel)
        guard let f = functions[plan.name] else { throw .kernelNotFound(name: plan.name) }
        let d = runtime.driver
        let r = plan.withParameters { params in
            d.launchKernel(f, UInt32(plan.grid), 1, 1, UInt32(plan.block), 1, 1, 0, stream, params, nil)
        }
        try d.check(r, "cuLaunchKernel(\(plan.name))")
    }

    static func dataType(_ t: ElementType, _ low: LowPrecision) -> Int32 {
        switch t {
        case .low: low == .bf16 ? Int32(CCUDA_R_16BF) : Int32(CCUDA_R_16F)
        default: Int32(CCUDA_R_32F)
        }
    }

    public func gemm(_ g: GemmCall) throws(GPUError) {
        let cm = ColumnMajorGemm(g)
        // cuBLAS' A is the call's B and vice versa (see ColumnMajorGemm).
        let a = g.b, b = g.a
        func address(_ o: GemmOperand) -> UnsafeRawPointer? { UnsafeRawPointer(bitPattern: UInt(o.buffer.address) + UInt(o.offset * o.type.size)) }
        var alpha = g.alpha, beta = g.beta
        let status = runtime.cublas.gemmStridedBatchedEx(
            handle, cm.transA ? Int32(CCUBLAS_OP_T) : Int32(CCUBLAS_OP_N), cm.transB ? Int32(CCUBLAS_OP_T) : Int32(CCUBLAS_OP_N),
            Int32(cm.m), Int32(cm.n), Int32(cm.k),
            &alpha, address(a), Self.dataType(a.type, lowPrecision), Int32(cm.lda), Int64(cm.strideA),
            address(b), Self.dataType(b.type, lowPrecision), Int32(cm.ldb), Int64(cm.strideB),
            &beta, UnsafeMutableRawPointer(mutating: address(g.c)), Self.dataType(g.c.type, lowPrecision), Int32(cm.ldc), Int64(cm.strideC),
            Int32(g.batch), Int32(CCUBLAS_COMPUTE_32F), Int32(CCUBLAS_GEMM_DEFAULT))
        try runtime.cublas.check(status, "cublasGemmStridedBatchedEx(\(g.m)x\(g.n)x\(g.k)/\(g.batch))")
    }

    public func record() throws(GPUError) -> DeviceEvent {
        var e: ccuda_event?
        try runtime.driver.check(runtime.driver.eventCreate(&e, 0), "cuEventCreate")
        guard let e else { throw .driver(call: "cuEventCreate", code: -1, message: "no event") }
        try runtime.driver.check(runtime.driver.eventRecord(e, stream), "cuEventRecord")
        let id = nextEvent
        nextEvent += 1
        events[id] = e
        return DeviceEvent(id: id, handle: UInt(bitPattern: e))
    }

    public func wait(_ event: DeviceEvent) throws(GPUError) {
        guard let e = events.removeValue(forKey: event.id) else { return }
        defer { _ = runtime.driver.eventDestroy(e) }
        try runtime.driver.check(runtime.driver.eventSynchronize(e), "cuEventSynchronize")
    }

    /// Milliseconds between two recorded events (both must not have been waited for yet).
    public func elapsedMilliseconds(_ start: DeviceEvent, _ end: DeviceEvent) throws(GPUError) -> Double {
        guard let a = events[start.id], let b = events[end.id] else { throw .invalidInput("events already consumed") }
        try runtime.driver.check(runtime.driver.eventSynchronize(b), "cuEventSynchronize")
        var ms: Float = 0
        try runtime.driver.check(runtime.driver.eventElapsedTime(&ms, a, b), "cuEventElapsedTime")
        return Double(ms)
    }

    public func synchronize() throws(GPUError) {
        try runtime.driver.check(runtime.driver.streamSynchronize(stream), "cuStreamSynchronize")
    }
}
