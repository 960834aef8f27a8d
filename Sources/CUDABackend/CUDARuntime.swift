/// The three CUDA libraries, opened and version-checked once per process.
public final class CUDARuntime: @unchecked Sendable {
    public let driver: DriverAPI
    public let cublas: CUBLAS
    public let nvrtc: NVRTC
    public let driverVersion: Int
    public let cublasVersion: Int
    public let nvrtcVersion: Int
    public let deviceCount: Int

    /// Opens the driver first (its absence is the most common reason and the first to report),
    /// initialises it, then cuBLAS and NVRTC; checks that the driver is new enough for both.
    public init(search: LibrarySearch = LibrarySearch()) throws(GPUError) {
        driver = try DriverAPI(search: search)
        driverVersion = try driver.version()
        try driver.start()
        deviceCount = try driver.deviceCount()
        guard deviceCount > 0 else { throw .noDevice(reason: "the driver (CUDA \(CUDAVersion.text(driverVersion))) sees no GPU") }
        cublas = try CUBLAS(search: search)
        nvrtc = try NVRTC(search: search)
        nvrtcVersion = nvrtc.version()
        cublasVersion = Self.cublasVersion(cublas)
        try Self.checkVersions(driver: driverVersion, cublas: cublasVersion, nvrtc: nvrtcVersion)
    }

    static func cublasVersion(_ cublas: CUBLAS) -> Int {
        var handle: UnsafeMutableRawPointer?
        guard cublas.create(&handle) == 0, let handle else { return 0 }
        defer { _ = cublas.destroy(handle) }
        var v: Int32 = 0
        return cublas.getVersion(handle, &v) == 0 ? Int(v) : 0
    }

    /// A driver runs libraries of its CUDA major version or older: cuBLAS 13 and NVRTC 13 (PTX
    /// ISA 9) need a CUDA 13 driver.
    public static func checkVersions(driver: Int, cublas: Int, nvrtc: Int) throws(GPUError) {
        let driverMajor = driver / 1000
        let cublasMajor = CUBLASVersion.major(cublas)
        if cublasMajor > driverMajor { throw .driverTooOld(driver: driver, required: cublasMajor * 1000) }
        if nvrtc / 1000 > driverMajor { throw .driverTooOld(driver: driver, required: (nvrtc / 1000) * 1000) }
    }
}
