#if canImport(Glibc)
import Glibc
#endif

/// A shared library opened with `dlopen` and kept open for the life of the process (the CUDA
/// libraries are never unloaded: their handles and function pointers stay valid everywhere).
public final class DynamicLibrary: @unchecked Sendable {
    public let name: String
    public let path: String
    let handle: UnsafeMutableRawPointer

    init(name: String, path: String, handle: UnsafeMutableRawPointer) {
        self.name = name
        self.path = path
        self.handle = handle
    }

    /// Opens the first candidate that loads. `RTLD_GLOBAL`, so cuBLAS finds the cuBLASLt opened
    /// before it from the same folder.
    static func open(name: String, candidates: [String]) throws(GPUError) -> DynamicLibrary {
        var tried: [String] = []
        for path in candidates {
            if let handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL) { return DynamicLibrary(name: name, path: path, handle: handle) }
            let reason = dlerror().map { String(cString: $0) } ?? "not loadable"
            tried.append(reason.contains("No such file") || reason.contains("cannot open shared object file") ? path : "\(path) (\(reason))")
        }
        throw .libraryNotFound(library: name, tried: tried)
    }

    /// The entry point `symbol` as the C function type `T`.
    func function<T>(_ symbol: String, as type: T.Type) throws(GPUError) -> T {
        guard let address = dlsym(handle, symbol) else { throw .missingSymbol(library: name, path: path, symbol: symbol) }
        return unsafeBitCast(address, to: type)
    }
}
