/// What `--device` asks for: the CPU, a GPU (`cuda` is `cuda:0`), or `auto` (the GPU when one
/// is usable, else the CPU).
public enum DeviceChoice: Sendable, Equatable, CustomStringConvertible {
    case cpu
    case cuda(index: Int)
    case auto

    public static func parse(_ text: String) throws(GPUError) -> DeviceChoice {
        let t = text.lowercased()
        switch t {
        case "cpu": return .cpu
        case "auto": return .auto
        case "cuda", "gpu": return .cuda(index: 0)
        default:
            guard t.hasPrefix("cuda:"), let n = Int(t.dropFirst(5)), n >= 0, String(n) == t.dropFirst(5) else { throw .badDeviceSpec(text) }
            return .cuda(index: n)
        }
    }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .auto: "auto"
        case let .cuda(index): "cuda:\(index)"
        }
    }

    /// The resolved device: nil for the CPU. `auto` falls back to the CPU with the reason in
    /// `note`; an explicit `cuda` rethrows what is missing (the caller exits 2 with it).
    public func open(search: LibrarySearch = LibrarySearch(), lowPrecision: LowPrecision = .bf16,
                     note: (String) -> Void = { _ in }) throws(GPUError) -> CUDADevice? {
        switch self {
        case .cpu: return nil
        case let .cuda(index):
            return try CUDADevice(runtime: try CUDARuntime.shared(search: search), index: index, lowPrecision: lowPrecision)
        case .auto:
            do {
                return try CUDADevice(runtime: try CUDARuntime.shared(search: search), index: 0, lowPrecision: lowPrecision)
            } catch {
                note("device auto: no usable GPU (\(error)); running on the CPU")
                return nil
            }
        }
    }
}

extension CUDARuntime {
    nonisolated(unsafe) private static var opened: CUDARuntime?

    /// The process' runtime, opened on first use (the libraries stay loaded).
    public static func shared(search: LibrarySearch) throws(GPUError) -> CUDARuntime {
        if let opened { return opened }
        let runtime = try CUDARuntime(search: search)
        opened = runtime
        return runtime
    }
}
