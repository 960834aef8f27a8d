/// Everything that can go wrong on the GPU path, each case saying what is missing or what
/// failed, so `--device cuda` can exit 2 with a reason and a worker can release its unit with one.
public enum GPUError: Error, Equatable, CustomStringConvertible {
    /// A library could not be opened: which one, and every place that was tried.
    case libraryNotFound(library: String, tried: [String])
    /// A library opened but lacks an entry point adaneg needs (too old, or not that library).
    case missingSymbol(library: String, path: String, symbol: String)
    /// The driver is older than the libraries need.
    case driverTooOld(driver: Int, required: Int)
    case noDevice(reason: String)
    case deviceOutOfRange(index: Int, count: Int)
    case badDeviceSpec(String)
    /// A driver call failed: the call, its CUresult and the driver's text.
    case driver(call: String, code: Int32, message: String)
    case cublas(call: String, status: Int32)
    /// NVRTC rejected the kernel source: the kernels in it, NVRTC's result and log.
    case compile(kernels: [String], architecture: String, result: String, log: String)
    case kernelNotFound(name: String)
    /// An allocation (or a cuBLAS workspace) did not fit in the GPU's memory.
    case outOfMemory(bytes: Int, what: String)
    /// Even one item per batch does not fit: the model is too big for this GPU.
    case modelTooLarge(needed: Int, free: Int?)
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .libraryNotFound(library, tried):
            "\(library) not found (tried \(tried.isEmpty ? "nothing" : tried.joined(separator: ", ")))"
        case let .missingSymbol(library, path, symbol):
            "\(library) at \(path) has no \(symbol) (too old a version?)"
        case let .driverTooOld(driver, required):
            "the NVIDIA driver supports CUDA \(CUDAVersion.text(driver)), the loaded libraries need \(CUDAVersion.text(required)) or newer"
        case let .noDevice(reason): "no CUDA device: \(reason)"
        case let .deviceOutOfRange(index, count):
            "CUDA device \(index) does not exist: this machine has \(count) (cuda:0\(count > 1 ? "...cuda:\(count - 1)" : ""))"
        case let .badDeviceSpec(text): "unknown device '\(text)'; choose cpu, cuda, cuda:N or auto"
        case let .driver(call, code, message): "\(call) failed: CUDA error \(code) (\(message))"
        case let .cublas(call, status): "\(call) failed: cuBLAS status \(status)"
        case let .compile(kernels, architecture, result, log):
            "NVRTC could not compile the kernels (\(kernels.joined(separator: ", "))) for \(architecture): \(result)\n\(log)"
        case let .kernelNotFound(name): "kernel \(name) is missing from the compiled module"
        case let .outOfMemory(bytes, what): "out of GPU memory allocating \(bytes) bytes for \(what)"
        case let .modelTooLarge(needed, free):
            "the model does not fit in GPU memory: it needs about \(needed / 1_048_576) MiB\(free.map { ", \($0 / 1_048_576) MiB are free" } ?? "")"
        case let .invalidInput(text): text
        }
    }

    /// Out of memory in any of its forms (the caller retries with a smaller batch).
    public var isOutOfMemory: Bool {
        switch self {
        case .outOfMemory: true
        case let .driver(_, code, _): code == 2
        case let .cublas(_, status): status == 3
        default: false
        }
    }
}

/// CUDA's integer versions (`1000·major + 10·minor`) as text.
public enum CUDAVersion {
    public static func text(_ version: Int) -> String { "\(version / 1000).\((version % 1000) / 10)" }
}
