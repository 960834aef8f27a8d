import Testing
@testable import Platform

/// The kernel decision with injected CPUs and core names: no test depends on this machine.
@Suite("BLAS kernel policy")
struct BLASKernelPolicyTests {
    static let sapphireRapids = CPUFeatures(vendor: "GenuineIntel", brand: "Intel(R) Xeon(R) Processor", avx2: true, fma: true,
                                            avx512f: true, avx512bw: true, avx512vl: true, avx512dq: true, avx512vnni: true,
                                            avx512bf16: true, amxTile: true, amxBF16: true, amxInt8: true)
    static let skylake = CPUFeatures(vendor: "GenuineIntel", avx2: true, fma: true, avx512f: true, avx512bw: true, avx512vl: true, avx512dq: true)
    static let zen3 = CPUFeatures(vendor: "AuthenticAMD", avx2: true, fma: true)
    static let old = CPUFeatures(vendor: "GenuineIntel")

    @Test("Prescott on an AVX-512 BF16 Xeon re-executes on Cooperlake")
    func fallbackOnXeon() {
        let d = BLASKernelPolicy.decide(cpu: Self.sapphireRapids, loadedCore: "Prescott", environment: [:])
        guard case .reexecute(let core, let reason) = d else { Issue.record("got \(d)"); return }
        #expect(core == "Cooperlake")
        #expect(reason.contains("Prescott"))
    }

    @Test("generic kernels on AVX2 and AVX-512 CPUs re-execute on the best kernel",
          arguments: [("Prescott", "SkylakeX"), ("Nehalem", "SkylakeX"), ("Sandybridge", "SkylakeX"), ("Haswell", "SkylakeX")])
    func fallbackOnSkylake(loaded: String, expected: String) {
        #expect(BLASKernelPolicy.decide(cpu: Self.skylake, loadedCore: loaded, environment: [:])
                    == .reexecute(core: expected, reason: "OpenBLAS chose its generic \(loaded) kernel (\(BLASKernelPolicy.tier(ofCore: loaded)!)) on a CPU with AVX-512"))
    }

    @Test("the right kernel is kept", arguments: [("SkylakeX", true), ("Cooperlake", true), ("Haswell", false), ("Zen", false)])
    func keeps(core: String, avx512: Bool) {
        let cpu = avx512 ? Self.sapphireRapids : Self.zen3
        guard case .keep = BLASKernelPolicy.decide(cpu: cpu, loadedCore: core, environment: [:]) else {
            Issue.record("\(core) should be kept"); return
        }
    }

    @Test("SkylakeX on an AVX512-BF16 CPU is not a fallback (same fp32 kernels)")
    func skylakeXOnCooperlakeCPU() {
        guard case .keep = BLASKernelPolicy.decide(cpu: Self.sapphireRapids, loadedCore: "SkylakeX", environment: [:]) else {
            Issue.record("SkylakeX should be kept"); return
        }
    }

    @Test("Prescott on an AVX2 CPU re-executes on Haswell")
    func fallbackOnZen() {
        guard case .reexecute(let core, _) = BLASKernelPolicy.decide(cpu: Self.zen3, loadedCore: "Prescott", environment: [:]) else {
            Issue.record("expected a re-execution"); return
        }
        #expect(core == "Haswell")
    }

    @Test("a CPU without AVX2 keeps whatever OpenBLAS chose")
    func oldCPU() {
        guard case .keep = BLASKernelPolicy.decide(cpu: Self.old, loadedCore: "Prescott", environment: [:]) else {
            Issue.record("expected keep"); return
        }
    }

    @Test("an unknown core name is never overridden")
    func unknownCore() {
        guard case .keep(let reason) = BLASKernelPolicy.decide(cpu: Self.skylake, loadedCore: "Graviton9", environment: [:]) else {
            Issue.record("expected keep"); return
        }
        #expect(reason.contains("Graviton9"))
    }

    @Test("a user's OPENBLAS_CORETYPE is respected, with a warning when it is slower than the CPU allows")
    func userSetting() {
        let env = ["OPENBLAS_CORETYPE": "Prescott"]
        guard case .warn(let text) = BLASKernelPolicy.decide(cpu: Self.sapphireRapids, loadedCore: "Prescott", environment: env) else {
            Issue.record("expected a warning"); return
        }
        #expect(text.contains("set by the user") && text.contains("Cooperlake"))
        guard case .keep = BLASKernelPolicy.decide(cpu: Self.skylake, loadedCore: "SkylakeX", environment: ["OPENBLAS_CORETYPE": "SkylakeX"]) else {
            Issue.record("a fitting user setting is kept without a warning"); return
        }
        guard case .warn(let beyond) = BLASKernelPolicy.decide(cpu: Self.zen3, loadedCore: "SkylakeX", environment: ["OPENBLAS_CORETYPE": "SkylakeX"]) else {
            Issue.record("a kernel beyond the CPU warns"); return
        }
        #expect(beyond.contains("beyond"))
    }

    @Test("adaneg's own setting inherited by a child is not a user setting, and a failed re-execution warns instead of looping")
    func childProcesses() {
        let env = ["OPENBLAS_CORETYPE": "Cooperlake", BLASKernelPolicy.markerVariable: "1"]
        guard case .keep = BLASKernelPolicy.decide(cpu: Self.sapphireRapids, loadedCore: "Cooperlake", environment: env) else {
            Issue.record("expected keep"); return
        }
        guard case .warn = BLASKernelPolicy.decide(cpu: Self.sapphireRapids, loadedCore: "Prescott", environment: env) else {
            Issue.record("expected a warning, not another re-execution"); return
        }
    }

    @Test("core names map to tiers case-insensitively")
    func tiers() {
        #expect(BLASKernelPolicy.tier(ofCore: "PRESCOTT") == .generic)
        #expect(BLASKernelPolicy.tier(ofCore: "skylakex") == .avx512)
        #expect(BLASKernelPolicy.tier(ofCore: "Zen") == .avx2)
        #expect(BLASKernelPolicy.tier(ofCore: "") == nil)
    }
}

@Suite("Precision choice")
struct PrecisionChoiceTests {
    @Test("auto picks bf16 only with native bf16; bf16 without it is an error naming the choices")
    func resolution() throws {
        #expect(try PrecisionChoice.auto.resolve(on: BLASKernelPolicyTests.sapphireRapids).precision == .bf16)
        let fallback = try PrecisionChoice.auto.resolve(on: BLASKernelPolicyTests.skylake)
        #expect(fallback.precision == .fp32 && fallback.note != nil)
        #expect(throws: PrecisionChoice.ResolutionError.bf16Unsupported(cpu: "")) {
            try PrecisionChoice.bf16.resolve(on: BLASKernelPolicyTests.skylake)
        }
        #expect(try PrecisionChoice.fp32.resolve(on: BLASKernelPolicyTests.sapphireRapids).precision == .fp32)
        // AMX alone (no AVX512-BF16) is native bf16 too.
        let amxOnly = CPUFeatures(amxTile: true, amxBF16: true)
        #expect(try PrecisionChoice.bf16.resolve(on: amxOnly).precision == .bf16)
        #expect(try PrecisionChoice.auto.resolve(on: amxOnly).precision == .bf16)
    }

    /// Native bf16 that is slower than fp32 (measured: an Intel Xeon with AVX512-BF16 and no
    /// AMX) is no reason for `auto` to pick it; on AMD's AVX512-BF16 (Zen 4/5) it is faster.
    @Test("auto runs bf16 only where it is faster: AMX, or AVX512-BF16 on AMD; not Intel AVX512-BF16 without AMX")
    func autoFollowsMeasuredSpeed() throws {
        var noAMX = BLASKernelPolicyTests.sapphireRapids
        noAMX.amxTile = false; noAMX.amxBF16 = false; noAMX.amxInt8 = false
        let intel = try PrecisionChoice.auto.resolve(on: noAMX)
        #expect(intel.precision == .fp32 && intel.note?.contains("without AMX") == true)
        #expect(PrecisionChoice.auto.planned(on: noAMX) == .fp32)
        #expect(try PrecisionChoice.bf16.resolve(on: noAMX).precision == .bf16, "an explicit bf16 is kept")
        var zen4 = noAMX
        zen4.vendor = "AuthenticAMD"
        #expect(try PrecisionChoice.auto.resolve(on: zen4).precision == .bf16)
        #expect(PrecisionChoice.auto.planned(on: zen4) == .bf16)
        #expect(BLASKernelPolicyTests.skylake.autoBF16.reason.contains("no native bf16"))
    }

    @Test("unknown spellings list the choices")
    func parsing() throws {
        #expect(try PrecisionChoice.parse("BF16") == .bf16)
        do {
            _ = try PrecisionChoice.parse("fp16")
            Issue.record("fp16 should be refused")
        } catch {
            #expect(error.description.contains("fp32, bf16, auto"))
        }
    }
}

@Suite("Memory info")
struct MemoryInfoTests {
    @Test("parses /proc/meminfo text")
    func parse() {
        let text = "MemTotal:       24563892 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n"
        #expect(MemoryInfo.parse(meminfo: text) == MemoryInfo(totalBytes: 24563892 * 1024, availableBytes: 20000000 * 1024))
        #expect(MemoryInfo.parse(meminfo: "garbage") == nil)
    }

    @Test("this machine's CPU is read without crashing and names a vendor on x86")
    func detect() {
        let cpu = CPUFeatures.current
        #if arch(x86_64)
        #expect(!cpu.vendor.isEmpty)
        #endif
        // AVX-512 implies AVX2 on every CPU that has both; the tiers must be consistent.
        if cpu.hasAVX512 { #expect(cpu.avx2) }
    }
}

@Suite("Planned precision")
struct PlannedPrecisionTests {
    @Test("auto is decided by the planning CPU; explicit choices are kept as they are")
    func planned() {
        #expect(PrecisionChoice.auto.planned(on: BLASKernelPolicyTests.sapphireRapids) == .bf16)
        #expect(PrecisionChoice.auto.planned(on: BLASKernelPolicyTests.skylake) == .fp32)
        #expect(PrecisionChoice.bf16.planned(on: BLASKernelPolicyTests.skylake) == .bf16)
        #expect(PrecisionChoice.fp32.planned(on: BLASKernelPolicyTests.sapphireRapids) == .fp32)
    }
}
