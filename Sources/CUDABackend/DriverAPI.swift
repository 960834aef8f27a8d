import CCUDA

/// The CUDA driver API entry points adaneg uses, resolved from `libcuda.so.1` at run time.
/// The `_v2` names are the ABI the headers map the plain names to since CUDA 4/11.
public final class DriverAPI: @unchecked Sendable {
    public let library: DynamicLibrary
    let initialize: ccuda_init_fn
    let driverGetVersion: ccuda_driver_get_version_fn
    let deviceGetCount: ccuda_device_get_count_fn
    let deviceGet: ccuda_device_get_fn
    let deviceGetName: ccuda_device_get_name_fn
    let deviceGetAttribute: ccuda_device_get_attribute_fn
    let deviceTotalMem: ccuda_device_total_mem_fn
    let primaryCtxRetain: ccuda_primary_ctx_retain_fn
    let primaryCtxRelease: ccuda_primary_ctx_release_fn
    let ctxSetCurrent: ccuda_ctx_set_current_fn
    let memGetInfo: ccuda_mem_get_info_fn
    let memAlloc: ccuda_mem_alloc_fn
    let memFree: ccuda_mem_free_fn
    let memHostAlloc: ccuda_mem_host_alloc_fn
    let memFreeHost: ccuda_mem_free_host_fn
    let memcpyHtoDAsync: ccuda_memcpy_htod_async_fn
    let memcpyDtoHAsync: ccuda_memcpy_dtoh_async_fn
    let memsetD8Async: ccuda_memset_d8_async_fn
    let streamCreate: ccuda_stream_create_fn
    let streamDestroy: ccuda_stream_destroy_fn
    let streamSynchronize: ccuda_stream_synchronize_fn
    let eventCreate: ccuda_event_create_fn
    let eventDestroy: ccuda_event_destroy_fn
    let eventRecord: ccuda_event_record_fn
    let eventSynchronize: ccuda_event_synchronize_fn
    let eventElapsedTime: ccuda_event_elapsed_time_fn
    let moduleLoadData: ccuda_module_load_data_fn
    let moduleGetFunction: ccuda_module_get_function_fn
    let launchKernel: ccuda_launch_kernel_fn
    let getErrorString: ccuda_get_error_string_fn

    /// Opens the driver and resolves every entry point (a missing one is a typed error naming it).
    public init(search: LibrarySearch) throws(GPUError) {
        let lib = try search.open(.driver)
        library = lib
        initialize = try lib.function("cuInit", as: ccuda_init_fn.self)
        driverGetVersion = try lib.function("cuDriverGetVersion", as: ccuda_driver_get_version_fn.self)
        deviceGetCount = try lib.function("cuDeviceGetCount", as: ccuda_device_get_count_fn.self)
        deviceGet = try lib.function("cuDeviceGet", as: ccuda_device_get_fn.self)
        deviceGetName = try lib.function("cuDeviceGetName", as: ccuda_device_get_name_fn.self)
        deviceGetAttribute = try lib.function("cuDeviceGetAttribute", as: ccuda_device_get_attribute_fn.self)
        deviceTotalMem = try lib.function("cuDeviceTotalMem_v2", as: ccuda_device_total_mem_fn.self)
        primaryCtxRetain = try lib.function("cuDevicePrimaryCtxRetain", as: ccuda_primary_ctx_retain_fn.self)
        primaryCtxRelease = try lib.function("cuDevicePrimaryCtxRelease_v2", as: ccuda_primary_ctx_release_fn.self)
        ctxSetCurrent = try lib.function("cuCtxSetCurrent", as: ccuda_ctx_set_current_fn.self)
        memGetInfo = try lib.function("cuMemGetInfo_v2", as: ccuda_mem_get_info_fn.self)
        memAlloc = try lib.function("cuMemAlloc_v2", as: ccuda_mem_alloc_fn.self)
        memFree = try lib.function("cuMemFree_v2", as: ccuda_mem_free_fn.self)
        memHostAlloc = try lib.function("cuMemHostAlloc", as: ccuda_mem_host_alloc_fn.self)
        memFreeHost = try lib.function("cuMemFreeHost", as: ccuda_mem_free_host_fn.self)
        memcpyHtoDAsync = try lib.function("cuMemcpyHtoDAsync_v2", as: ccuda_memcpy_htod_async_fn.self)
        memcpyDtoHAsync = try lib.function("cuMemcpyDtoHAsync_v2", as: ccuda_memcpy_dtoh_async_fn.self)
        memsetD8Async = try lib.function("cuMemsetD8Async", as: ccuda_memset_d8_async_fn.self)
        streamCreate = try lib.function("cuStreamCreate", as: ccuda_stream_create_fn.self)
        streamDestroy = try lib.function("cuStreamDestroy_v2", as: ccuda_stream_destroy_fn.self)
        streamSynchronize = try lib.function("cuStreamSynchronize", as: ccuda_stream_synchronize_fn.self)
        eventCreate = try lib.function("cuEventCreate", as: ccuda_event_create_fn.self)
        eventDestroy = try lib.function("cuEventDestroy_v2", as: ccuda_event_destroy_fn.self)
        eventRecord = try lib.function("cuEventRecord", as: ccuda_event_record_fn.self)
        eventSynchronize = try lib.function("cuEventSynchronize", as: ccuda_event_synchronize_fn.self)
        eventElapsedTime = try lib.function("cuEventElapsedTime", as: ccuda_event_elapsed_time_fn.self)
        moduleLoadData = try lib.function("cuModuleLoadData", as: ccuda_module_load_data_fn.self)
        moduleGetFunction = try lib.function("cuModuleGetFunction", as: ccuda_module_get_function_fn.self)
        launchKernel = try lib.function("cuLaunchKernel", as: ccuda_launch_kernel_fn.self)
        getErrorString = try lib.function("cuGetErrorString", as: ccuda_get_error_string_fn.self)
    }

    /// Throws a typed error for a failed call, with the driver's own text.
    func check(_ result: ccuda_result, _ call: String) throws(GPUError) {
        guard result != ccuda_result(CCUDA_SUCCESS) else { return }
        var text: UnsafePointer<CChar>?
        _ = getErrorString(result, &text)
        throw .driver(call: call, code: result, message: text.map { String(cString: $0) } ?? "unknown error")
    }

    public func version() throws(GPUError) -> Int {
        var v: Int32 = 0
        try check(driverGetVersion(&v), "cuDriverGetVersion")
        return Int(v)
    }

    /// `cuInit(0)`; no device (or a driver without a GPU, e.g. a container without one) is
    /// `.noDevice` with the driver's reason.
    public func start() throws(GPUError) {
        let r = initialize(0)
        if r == ccuda_result(CCUDA_ERROR_NO_DEVICE) { throw .noDevice(reason: "cuInit reports no CUDA-capable device") }
        try check(r, "cuInit")
    }

    public func deviceCount() throws(GPUError) -> Int {
        var n: Int32 = 0
        try check(deviceGetCount(&n), "cuDeviceGetCount")
        return Int(n)
    }
}

/// One GPU as `doctor` lists it.
public struct GPUProperties: Sendable, Equatable, Codable {
    public var index: Int
    public var name: String
    public var computeCapability: String
    public var multiprocessors: Int
    public var totalBytes: Int

    /// `compute_90` for capability 9.0: what NVRTC compiles for.
    public var architecture: String { "compute_" + computeCapability.replacingOccurrences(of: ".", with: "") }
}

extension DriverAPI {
    public func properties(of index: Int) throws(GPUError) -> GPUProperties {
        var device: ccuda_device = 0
        try check(deviceGet(&device, Int32(index)), "cuDeviceGet(\(index))")
        var name = [CChar](repeating: 0, count: 256)
        try check(deviceGetName(&name, 255, device), "cuDeviceGetName")
        func attribute(_ a: Int32) throws(GPUError) -> Int {
            var v: Int32 = 0
            try check(deviceGetAttribute(&v, a, device), "cuDeviceGetAttribute(\(a))")
            return Int(v)
        }
        let major = try attribute(Int32(CCUDA_ATTR_COMPUTE_CAPABILITY_MAJOR))
        let minor = try attribute(Int32(CCUDA_ATTR_COMPUTE_CAPABILITY_MINOR))
        let sms = try attribute(Int32(CCUDA_ATTR_MULTIPROCESSOR_COUNT))
        var total = 0
        try check(deviceTotalMem(&total, device), "cuDeviceTotalMem")
        let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return GPUProperties(index: index, name: text, computeCapability: "\(major).\(minor)", multiprocessors: sms, totalBytes: total)
    }
}
