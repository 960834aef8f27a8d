import Foundation

/// Where the CUDA libraries are looked for, in order, and under which names. Nothing CUDA is
/// linked at build time: a binary built without CUDA finds the driver, cuBLAS and NVRTC where
/// the machine has them (a toolkit, the driver's folder, or PyTorch's `nvidia-*` wheels).
///
/// Order: the library's explicit override variable (only that path when set), `LD_LIBRARY_PATH`,
/// `ADANEG_CUDA_LIBRARY_PATH`, `CUDA_HOME`/`CUDA_PATH`, `/usr/local/cuda*/` (`lib64` and
/// `targets/x86_64-linux/lib`, newest version first), the `nvidia/*/lib` folders of Python
/// site-packages (the active virtual environment, system and user Pythons, `/opt/*/.venv`), the
/// distribution's library folders, and finally the bare soname for the dynamic linker's own cache
/// (how `libcuda.so.1` from the driver package is usually found). Everything comes from the
/// injected environment and file system, so tests point it at empty or fake folders.
public struct LibrarySearch: Sendable {
    /// One library: a display name, its sonames (preferred first) and its override variable.
    public struct Library: Sendable, Equatable {
        public var name: String
        public var sonames: [String]
        public var overrideVariable: String

        public static let driver = Library(name: "the CUDA driver (libcuda.so.1)", sonames: ["libcuda.so.1", "libcuda.so"],
                                           overrideVariable: "ADANEG_CUDA_DRIVER_LIBRARY")
        public static let cublas = Library(name: "cuBLAS (libcublas)", sonames: versioned("libcublas"),
                                           overrideVariable: "ADANEG_CUBLAS_LIBRARY")
        public static let cublasLt = Library(name: "cuBLASLt (libcublasLt)", sonames: versioned("libcublasLt"),
                                             overrideVariable: "ADANEG_CUBLASLT_LIBRARY")
        public static let nvrtc = Library(name: "NVRTC (libnvrtc)", sonames: versioned("libnvrtc") + ["libnvrtc.so.11.2"],
                                          overrideVariable: "ADANEG_NVRTC_LIBRARY")

        /// `lib.so.13`, `.so.12`, `.so.11`, then the unversioned development link.
        static func versioned(_ base: String) -> [String] { ["13", "12", "11"].map { "\(base).so.\($0)" } + ["\(base).so"] }
    }

    public var environment: [String: String]
    /// Folder listing (names inside a folder), nil when it cannot be read.
    public var listFolder: @Sendable (String) -> [String]?
    public var fileExists: @Sendable (String) -> Bool
    /// Whether the bare soname (the dynamic linker's cache and default folders) is tried last.
    public var includeLinkerDefaults: Bool
    /// Fixed folders tried after the discovered ones.
    public var systemFolders: [String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                listFolder: @escaping @Sendable (String) -> [String]? = { try? FileManager.default.contentsOfDirectory(atPath: $0) },
                fileExists: @escaping @Sendable (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
                includeLinkerDefaults: Bool = true,
                systemFolders: [String] = ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]) {
        self.environment = environment
        self.listFolder = listFolder
        self.fileExists = fileExists
        self.includeLinkerDefaults = includeLinkerDefaults
        self.systemFolders = systemFolders
    }

    /// A search that looks only in `folders` (tests; `ADANEG_CUDA_LIBRARY_PATH`-like use).
    public static func only(_ folders: [String]) -> LibrarySearch {
        LibrarySearch(environment: ["ADANEG_CUDA_LIBRARY_PATH": folders.joined(separator: ":")], includeLinkerDefaults: false, systemFolders: [])
    }

    // MARK: Folders

    /// Every folder searched, in order, without repeats.
    public var folders: [String] {
        var out: [String] = []
        func add(_ path: String) { if !path.isEmpty, !out.contains(path) { out.append(path) } }
        func split(_ variable: String) { environment[variable].map { $0.split(separator: ":").map(String.init).forEach(add) } }
        split("LD_LIBRARY_PATH")
        split("ADANEG_CUDA_LIBRARY_PATH")
        for variable in ["CUDA_HOME", "CUDA_PATH"] {
            if let home = environment[variable], !home.isEmpty { toolkitFolders(home).forEach(add) }
        }
        if includeLinkerDefaults || !systemFolders.isEmpty {
            let local = (listFolder("/usr/local") ?? []).filter { $0 == "cuda" || $0.hasPrefix("cuda-") }
                .sorted { Self.versionOrder($0, $1) }
            for name in local { toolkitFolders("/usr/local/\(name)").forEach(add) }
            sitePackages().forEach { wheelFolders($0).forEach(add) }
        } else if let venv = environment["VIRTUAL_ENV"] {
            sitePackagesIn(venv).forEach { wheelFolders($0).forEach(add) }
        }
        systemFolders.forEach(add)
        return out
    }

    func toolkitFolders(_ home: String) -> [String] { ["\(home)/lib64", "\(home)/targets/x86_64-linux/lib", "\(home)/lib"] }

    /// `cuda` first (the symlink to the chosen toolkit), then `cuda-13.0` before `cuda-12.4`.
    static func versionOrder(_ a: String, _ b: String) -> Bool {
        if a == "cuda" { return b != "cuda" }
        if b == "cuda" { return false }
        func parts(_ s: String) -> [Int] { s.dropFirst(5).split(separator: ".").compactMap { Int($0) } }
        return parts(b).lexicographicallyPrecedes(parts(a))
    }

    /// Site-packages folders of the Pythons a machine with PyTorch usually has.
    func sitePackages() -> [String] {
        var roots: [String] = []
        if let venv = environment["VIRTUAL_ENV"], !venv.isEmpty { roots.append(venv) }
        for opt in listFolder("/opt") ?? [] { roots.append("/opt/\(opt)/.venv"); roots.append("/opt/\(opt)") }
        roots += ["/usr/local", "/usr"]
        if let home = environment["HOME"], !home.isEmpty { roots.append("\(home)/.local") }
        return roots.flatMap(sitePackagesIn)
    }

    func sitePackagesIn(_ root: String) -> [String] {
        (listFolder("\(root)/lib") ?? []).filter { $0.hasPrefix("python3") }.sorted().reversed().flatMap {
            ["\(root)/lib/\($0)/site-packages", "\(root)/lib/\($0)/dist-packages"]
        }
    }

    /// `site-packages/nvidia/<package>/lib` (cu12 wheels: `nvidia/cublas/lib`; cu13: `nvidia/cu13/lib`).
    func wheelFolders(_ site: String) -> [String] {
        (listFolder("\(site)/nvidia") ?? []).sorted().map { "\(site)/nvidia/\($0)/lib" }
    }

    // MARK: Candidates

    /// The paths to try for `library`, in order: an override alone, else each folder × soname
    /// that exists, then (optionally) the bare sonames.
    public func candidates(_ library: Library) -> [String] {
        if let explicit = environment[library.overrideVariable], !explicit.isEmpty { return [explicit] }
        var out: [String] = []
        for folder in folders {
            for soname in library.sonames where fileExists("\(folder)/\(soname)") { out.append("\(folder)/\(soname)") }
        }
        if includeLinkerDefaults { out += library.sonames }
        return out
    }

    /// Opens `library` from its candidates; the error lists what was tried (the folders too when
    /// no file of that name was found anywhere).
    public func open(_ library: Library) throws(GPUError) -> DynamicLibrary {
        let paths = candidates(library)
        guard !paths.isEmpty else {
            throw .libraryNotFound(library: library.name, tried: [library.sonames.joined(separator: "|") + " in " + (folders.isEmpty ? "no folder" : folders.joined(separator: ":"))])
        }
        return try DynamicLibrary.open(name: library.name, candidates: paths)
    }
}
