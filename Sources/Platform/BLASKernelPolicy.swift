/// Decides whether the OpenBLAS kernel that was loaded suits the CPU, and what to run on when it
/// does not.
///
/// Why: OpenBLAS built with `DYNAMIC_ARCH` picks its kernel from a table of known CPU models.
/// A CPU newer than the build (or a VM that hides the model number) falls back to the generic
/// `Prescott` (SSE3) kernel, which runs at a quarter of the speed the same library reaches with
/// its AVX-512 kernel. OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads, so the fix is to
/// re-execute the process with it set; this type is the pure decision, testable with injected
/// features and core names.
public enum BLASKernelPolicy {
    /// The SIMD level a kernel (or a CPU) uses, in increasing order.
    public enum Tier: Int, Comparable, Sendable, Codable, CustomStringConvertible {
        case generic = 0   // SSE-era kernels
        case avx = 1
        case avx2 = 2
        case avx512 = 3
        case avx512bf16 = 4

        public static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }
        public var description: String {
            switch self {
            case .generic: "SSE"
            case .avx: "AVX"
            case .avx2: "AVX2+FMA"
            case .avx512: "AVX-512"
            case .avx512bf16: "AVX-512 with BF16"
            }
        }
    }

    /// Environment variables: OpenBLAS' own, and the marker adaneg sets when it chose the kernel,
    /// so child processes (`run`'s workers) tell adaneg's choice from a user's.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    public static let markerVariable = "ADANEG_BLAS_CORETYPE_CHOSEN"

    /// The tier of an OpenBLAS core name (`openblas_get_corename`, case-insensitive), nil for a
    /// name this table does not know.
    public static func tier(ofCore name: String) -> Tier? {
        switch name.lowercased() {
        case "cooperlake", "sapphirerapids": .avx512bf16
        case "skylakex": .avx512
        case "haswell", "zen", "excavator": .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": .avx
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine",
             "northwood", "banias", "athlon", "opteron", "opteron_sse3", "barcelona", "bobcat", "nano":
            .generic
        default: nil
        }
    }

    /// The best kernel tier a CPU can run, and the OpenBLAS core name for it. OpenBLAS 0.3.21
    /// knows `Cooperlake` as its AVX512-BF16 kernel (fp32 GEMMs run as on SkylakeX).
    public static func bestCore(for cpu: CPUFeatures) -> (tier: Tier, core: String)? {
        if cpu.hasAVX512 && cpu.avx512bf16 { return (.avx512bf16, "Cooperlake") }
        if cpu.hasAVX512 { return (.avx512, "SkylakeX") }
        if cpu.hasAVX2FMA { return (.avx2, "Haswell") }
        return nil
    }

    /// What to do about the loaded kernel.
    public enum Decision: Equatable, Sendable {
        /// The kernel suits the CPU (or nothing better exists); `reason` says why, for the log.
        case keep(reason: String)
        /// Re-execute with `OPENBLAS_CORETYPE=core`.
        case reexecute(core: String, reason: String)
        /// Keep running, but say this (a user's own setting that looks wrong, or a re-execution
        /// that did not take).
        case warn(String)
    }

    /// - Parameters:
    ///   - loadedCore: `openblas_get_corename()` of the library as loaded.
    ///   - environment: the process environment (only the two variables above are read).
    public static func decide(cpu: CPUFeatures, loadedCore: String, environment: [String: String]) -> Decision {
        let loadedTier = tier(ofCore: loadedCore)
        let best = bestCore(for: cpu)
        let userSetting = environment[coreTypeVariable]
        let chosenByAdaneg = environment[markerVariable] != nil

        if let userSetting, !chosenByAdaneg {
            // A user's own choice is respected; say so when it looks wrong.
            guard let best else { return .keep(reason: "\(coreTypeVariable)=\(userSetting) set by the user") }
            guard let loadedTier else {
                return .warn("\(coreTypeVariable)=\(userSetting) set by the user; OpenBLAS runs kernel \(loadedCore), which adaneg does not know")
            }
            if loadedTier < best.tier && loadedTier < .avx512 {
                return .warn("\(coreTypeVariable)=\(userSetting) set by the user selects kernel \(loadedCore) (\(loadedTier)) on a CPU with \(best.tier); \(coreTypeVariable)=\(best.core) would be faster")
            }
            if loadedTier > best.tier {
                return .warn("\(coreTypeVariable)=\(userSetting) set by the user selects kernel \(loadedCore) (\(loadedTier)), beyond what this CPU offers (\(best.tier))")
            }
            return .keep(reason: "\(coreTypeVariable)=\(userSetting) set by the user")
        }
        guard let best else { return .keep(reason: "the CPU has neither AVX2+FMA nor AVX-512") }
        guard let loadedTier else { return .keep(reason: "OpenBLAS chose kernel \(loadedCore), which adaneg does not override") }
        // SkylakeX and Cooperlake run the same fp32 kernels: only a kernel below AVX-512 on an
        // AVX-512 CPU, or below AVX2 on an AVX2 CPU, is a fallback worth a re-execution.
        let wanted: Tier = min(best.tier, .avx512)
        if loadedTier >= wanted {
            return .keep(reason: chosenByAdaneg
                ? "adaneg set \(coreTypeVariable)=\(environment[coreTypeVariable] ?? best.core)"
                : "OpenBLAS' own choice for this CPU (\(best.tier))")
        }
        if chosenByAdaneg {
            return .warn("adaneg set \(coreTypeVariable)=\(environment[coreTypeVariable] ?? best.core) but OpenBLAS still runs \(loadedCore) (\(loadedTier))")
        }
        return .reexecute(core: best.core,
                          reason: "OpenBLAS chose its generic \(loadedCore) kernel (\(loadedTier)) on a CPU with \(best.tier)")
    }
}
