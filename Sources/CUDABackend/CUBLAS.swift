import CCUDA

/// cuBLAS, resolved at run time from the folder it is found in (with its cuBLASLt, which it
/// loads itself; opening cuBLASLt first from the same folder keeps the two versions matched).
public final class CUBLAS: @unchecked Sendable {
    public let library: DynamicLibrary
    public let lt: DynamicLibrary?
    let create: ccublas_create_fn
    let destroy: ccublas_destroy_fn
    let getVersion: ccublas_get_version_fn
    let setStream: ccublas_set_stream_fn
    let setWorkspace: ccublas_set_workspace_fn?
    let gemmStridedBatchedEx: ccublas_gemm_strided_batched_ex_fn

    public init(search: LibrarySearch) throws(GPUError) {
        // cuBLASLt first, then the cuBLAS of the same folder and version.
        var lt: DynamicLibrary?
        var found: DynamicLibrary?
        var tried: [String] = []
        for path in search.candidates(.cublas) {
            let folder = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) : nil
            let suffix = path.components(separatedBy: "libcublas").last ?? ".so"
            if let folder {
                lt = try? DynamicLibrary.open(name: LibrarySearch.Library.cublasLt.name, candidates: ["\(folder)/libcublasLt\(suffix)"])
            }
            do {
                found = try DynamicLibrary.open(name: LibrarySearch.Library.cublas.name, candidates: [path])
                break
            } catch {
                if case let .libraryNotFound(_, t) = error { tried += t }
            }
        }
        guard let lib = found else {
            let paths = search.candidates(.cublas)
            throw .libraryNotFound(library: LibrarySearch.Library.cublas.name,
                                   tried: paths.isEmpty ? [LibrarySearch.Library.cublas.sonames.joined(separator: "|") + " in " + search.folders.joined(separator: ":")] : tried)
        }
        library = lib
        self.lt = lt
        create = try lib.function("cublasCreate_v2", as: ccublas_create_fn.self)
        destroy = try lib.function("cublasDestroy_v2", as: ccublas_destroy_fn.self)
        getVersion = try lib.function("cublasGetVersion_v2", as: ccublas_get_version_fn.self)
        setStream = try lib.function("cublasSetStream_v2", as: ccublas_set_stream_fn.self)
        setWorkspace = try? lib.function("cublasSetWorkspace_v2", as: ccublas_set_workspace_fn.self)
        gemmStridedBatchedEx = try lib.function("cublasGemmStridedBatchedEx", as: ccublas_gemm_strided_batched_ex_fn.self)
    }

    func check(_ status: ccublas_status, _ call: String) throws(GPUError) {
        guard status != ccublas_status(CCUBLAS_STATUS_SUCCESS) else { return }
        throw .cublas(call: call, status: status)
    }
}

/// cuBLAS' version number (`major·10000 + minor·100 + patch` since cuBLAS 11) as text.
public enum CUBLASVersion {
    public static func text(_ v: Int) -> String { "\(v / 10000).\((v % 10000) / 100).\(v % 100)" }
    public static func major(_ v: Int) -> Int { v / 10000 }
}
