import CCUDA
#if canImport(Glibc)
import Glibc
#endif

/// NVRTC, resolved at run time: compiles adaneg's CUDA C kernels to PTX for one architecture.
/// It needs no GPU, which is how CI checks the kernels (the `nvidia-cuda-nvrtc-cu12` wheel).
public final class NVRTC: @unchecked Sendable {
    public let library: DynamicLibrary
    let versionFn: cnvrtc_version_fn
    let createProgram: cnvrtc_create_program_fn
    let destroyProgram: cnvrtc_destroy_program_fn
    let compileProgram: cnvrtc_compile_program_fn
    let getPTXSize: cnvrtc_get_size_fn
    let getPTX: cnvrtc_get_text_fn
    let getLogSize: cnvrtc_get_size_fn
    let getLog: cnvrtc_get_text_fn
    let errorString: cnvrtc_get_error_string_fn

    public init(search: LibrarySearch) throws(GPUError) {
        let lib = try search.open(.nvrtc)
        library = lib
        versionFn = try lib.function("nvrtcVersion", as: cnvrtc_version_fn.self)
        createProgram = try lib.function("nvrtcCreateProgram", as: cnvrtc_create_program_fn.self)
        destroyProgram = try lib.function("nvrtcDestroyProgram", as: cnvrtc_destroy_program_fn.self)
        compileProgram = try lib.function("nvrtcCompileProgram", as: cnvrtc_compile_program_fn.self)
        getPTXSize = try lib.function("nvrtcGetPTXSize", as: cnvrtc_get_size_fn.self)
        getPTX = try lib.function("nvrtcGetPTX", as: cnvrtc_get_text_fn.self)
        getLogSize = try lib.function("nvrtcGetProgramLogSize", as: cnvrtc_get_size_fn.self)
        getLog = try lib.function("nvrtcGetProgramLog", as: cnvrtc_get_text_fn.self)
        errorString = try lib.function("nvrtcGetErrorString", as: cnvrtc_get_error_string_fn.self)
    }

    /// NVRTC's version as CUDA writes it (`1000·major + 10·minor`).
    public func version() -> Int {
        var major: Int32 = 0, minor: Int32 = 0
        guard versionFn(&major, &minor) == 0 else { return 0 }
        return Int(major) * 1000 + Int(minor) * 10
    }

    /// Compiles `source` for `architecture` (`compute_90`) and returns the PTX (NUL-terminated,
    /// as `cuModuleLoadData` takes it). A failure names `kernels` and carries NVRTC's log.
    public func compile(source: String, name: String, architecture: String, defines: [String] = [],
                        kernels: [String]) throws(GPUError) -> [CChar] {
        var program: cnvrtc_program?
        let created = createProgram(&program, source, name, 0, nil, nil)
        guard created == 0, let program else {
            throw .compile(kernels: kernels, architecture: architecture, result: text(created), log: "nvrtcCreateProgram failed")
        }
        defer { var p: cnvrtc_program? = program; _ = destroyProgram(&p) }
        let options = ["--gpu-architecture=\(architecture)", "--std=c++17", "-default-device"] + defines.map { "-D\($0)" }
        let result = withCStrings(options) { compileProgram(program, Int32(options.count), $0) }
        let log = programLog(program)
        guard result == 0 else { throw .compile(kernels: kernels, architecture: architecture, result: text(result), log: log) }
        var size = 0
        guard getPTXSize(program, &size) == 0, size > 0 else {
            throw .compile(kernels: kernels, architecture: architecture, result: "no PTX", log: log)
        }
        var ptx = [CChar](repeating: 0, count: size)
        guard getPTX(program, &ptx) == 0 else { throw .compile(kernels: kernels, architecture: architecture, result: "nvrtcGetPTX failed", log: log) }
        return ptx
    }

    func programLog(_ program: cnvrtc_program) -> String {
        var size = 0
        guard getLogSize(program, &size) == 0, size > 1 else { return "" }
        var log = [CChar](repeating: 0, count: size)
        guard getLog(program, &log) == 0 else { return "" }
        return String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func text(_ result: cnvrtc_result) -> String {
        errorString(result).map { String(cString: $0) } ?? "NVRTC error \(result)"
    }
}

/// Calls `body` with a C array of the strings (valid only inside it).
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
