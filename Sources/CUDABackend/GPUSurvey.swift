/// What `doctor` says about the GPUs: the devices and library versions when the CUDA libraries
/// open, else the one reason they do not (which library, every path tried). Never throws, so a
/// machine without a GPU gets a report and not an error.
public struct GPUSurvey: Sendable, Codable, Equatable {
    public var available: Bool
    /// Why the GPU path is not usable (nil when it is).
    public var reason: String?
    public var driverVersion: String?
    public var cublasVersion: String?
    public var nvrtcVersion: String?
    public var gpus: [GPUProperties]

    public static func probe(search: LibrarySearch = LibrarySearch()) -> GPUSurvey {
        let runtime: CUDARuntime
        do { runtime = try CUDARuntime.shared(search: search) } catch {
            return GPUSurvey(available: false, reason: error.description, gpus: [])
        }
        var gpus: [GPUProperties] = []
        var reason: String?
        for index in 0..<runtime.deviceCount {
            do { gpus.append(try runtime.driver.properties(of: index)) } catch { reason = "device \(index): \(error)" }
        }
        return GPUSurvey(available: !gpus.isEmpty, reason: gpus.isEmpty ? (reason ?? "no device") : reason,
                         driverVersion: CUDAVersion.text(runtime.driverVersion),
                         cublasVersion: CUBLASVersion.text(runtime.cublasVersion),
                         nvrtcVersion: CUDAVersion.text(runtime.nvrtcVersion), gpus: gpus)
    }

    /// The `gpu:` lines of `doctor`'s text report.
    public var lines: [String] {
        guard available else { return ["gpu:        not available: \(reason ?? "unknown reason")"] }
        var out = ["gpu:        driver CUDA \(driverVersion ?? "?"), cuBLAS \(cublasVersion ?? "?"), NVRTC \(nvrtcVersion ?? "?")"]
        for g in gpus {
            out.append(String(format: "gpu %d:      %@, %.1f GiB, compute capability %@, %d SMs",
                              g.index, g.name, Double(g.totalBytes) / 1_073_741_824, g.computeCapability, g.multiprocessors))
        }
        if let reason { out.append("gpu:        note: \(reason)") }
        return out
    }
}
