import CPlatform

/// The instruction-set features that decide which matrix kernels can run, read from `cpuid`
/// and checked against what the operating system saves on a context switch (XCR0): a CPU
/// that has AVX-512 under an OS (or hypervisor) that does not enable its state cannot use it.
public struct CPUFeatures: Sendable, Equatable, Codable {
    public var vendor: String
    public var brand: String
    public var avx2: Bool
    public var fma: Bool
    public var avx512f: Bool
    public var avx512bw: Bool
    public var avx512vl: Bool
    public var avx512dq: Bool
    public var avx512vnni: Bool
    public var avx512bf16: Bool
    public var amxTile: Bool
    public var amxBF16: Bool
    public var amxInt8: Bool

    public init(vendor: String = "", brand: String = "", avx2: Bool = false, fma: Bool = false,
                avx512f: Bool = false, avx512bw: Bool = false, avx512vl: Bool = false, avx512dq: Bool = false,
                avx512vnni: Bool = false, avx512bf16: Bool = false,
                amxTile: Bool = false, amxBF16: Bool = false, amxInt8: Bool = false) {
        self.vendor = vendor; self.brand = brand; self.avx2 = avx2; self.fma = fma
        self.avx512f = avx512f; self.avx512bw = avx512bw; self.avx512vl = avx512vl; self.avx512dq = avx512dq
        self.avx512vnni = avx512vnni; self.avx512bf16 = avx512bf16
        self.amxTile = amxTile; self.amxBF16 = amxBF16; self.amxInt8 = amxInt8
    }

    /// AVX2 with FMA: what OpenBLAS' Haswell kernels need.
    public var hasAVX2FMA: Bool { avx2 && fma }
    /// The AVX-512 subset OpenBLAS' SkylakeX kernels need.
    public var hasAVX512: Bool { avx512f && avx512bw && avx512vl && avx512dq }
    /// Native bf16 dot products: AVX512-BF16 or AMX-BF16.
    public var hasNativeBF16: Bool { (hasAVX512 && avx512bf16) || (amxTile && amxBF16) }

    /// Whether `auto` runs bf16 on this CPU, and why. Native bf16 is not enough: it must also be
    /// faster than fp32, which was measured per kind of CPU (BENCHMARKS.md, "auto precision"):
    /// AMX-BF16 multiplies bf16 tiles at several times the fp32 rate; on AMD Zen 5 (AVX512-BF16)
    /// the whole image tower ran 1.76x faster in bf16; on an Intel Xeon with AVX512-BF16 but no
    /// AMX (family 6 model 207 with AMX hidden, as Cooper Lake's kind of unit) oneDNN's bf16
    /// products ran at 0.25–0.8x its fp32 ones, and end to end bf16 at 0.61x fp32. A rule, not a
    /// measurement at run time: the choice decides a job's features (bf16 and fp32 differ in the
    /// last bits), so it must not depend on how loaded a machine was when it was taken.
    public var autoBF16: (bf16: Bool, reason: String) {
        guard hasNativeBF16 else { return (false, "no native bf16 (AVX512-BF16 or AMX-BF16)") }
        if amxTile && amxBF16 { return (true, "AMX-BF16: bf16 tile products run several times faster than fp32") }
        if vendor == "AuthenticAMD" { return (true, "AVX512-BF16 on AMD (Zen 4/5): bf16 measured 1.76x fp32 end to end on Zen 5") }
        return (false, "AVX512-BF16 without AMX: bf16 products measured 0.25-0.8x fp32 on an Intel Xeon of this kind, so fp32 is faster")
    }

    /// The features as the short names `lscpu` uses, for logs and `doctor`.
    public var names: [String] {
        var out: [String] = []
        if avx2 { out.append("avx2") }
        if fma { out.append("fma") }
        if avx512f { out.append("avx512f") }
        if avx512bw { out.append("avx512bw") }
        if avx512vl { out.append("avx512vl") }
        if avx512dq { out.append("avx512dq") }
        if avx512vnni { out.append("avx512_vnni") }
        if avx512bf16 { out.append("avx512_bf16") }
        if amxTile { out.append("amx_tile") }
        if amxBF16 { out.append("amx_bf16") }
        if amxInt8 { out.append("amx_int8") }
        return out
    }

    /// This machine's features, read once.
    public static let current: CPUFeatures = detect()

    static func detect() -> CPUFeatures {
        func cpuid(_ leaf: UInt32, _ sub: UInt32 = 0) -> (a: UInt32, b: UInt32, c: UInt32, d: UInt32)? {
            var r: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
            let ok = withUnsafeMutableBytes(of: &r) { raw -> Int32 in
                guard let p = raw.baseAddress?.assumingMemoryBound(to: UInt32.self) else { return 0 }
                return adaneg_cpuid(leaf, sub, p)
            }
            return ok == 1 ? r : nil
        }
        func bit(_ value: UInt32, _ n: UInt32) -> Bool { value & (1 << n) != 0 }
        func text(_ words: [UInt32]) -> String {
            var bytes: [UInt8] = []
            for w in words { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((w >> UInt32(shift)) & 0xFF)) } }
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces()
        }

        var f = CPUFeatures()
        if let v = cpuid(0) { f.vendor = text([v.b, v.d, v.c]) }
        if let x = cpuid(0x8000_0000), x.a >= 0x8000_0004, let p2 = cpuid(0x8000_0002), let p3 = cpuid(0x8000_0003), let p4 = cpuid(0x8000_0004) {
            f.brand = text([p2.a, p2.b, p2.c, p2.d, p3.a, p3.b, p3.c, p3.d, p4.a, p4.b, p4.c, p4.d])
        }
        let xcr0 = adaneg_xgetbv0()
        let osAVX = xcr0 & 0x6 == 0x6                // XMM and YMM state
        let osAVX512 = osAVX && xcr0 & 0xE0 == 0xE0  // opmask, ZMM_Hi256, Hi16_ZMM
        let osAMX = xcr0 & 0x60000 == 0x60000         // XTILECFG, XTILEDATA
        guard let l1 = cpuid(1) else { return f }
        let avx = bit(l1.c, 28) && osAVX
        f.fma = bit(l1.c, 12) && avx
        if let l7 = cpuid(7) {
            f.avx2 = bit(l7.b, 5) && avx
            f.avx512f = bit(l7.b, 16) && osAVX512
            f.avx512dq = bit(l7.b, 17) && osAVX512
            f.avx512bw = bit(l7.b, 30) && osAVX512
            f.avx512vl = bit(l7.b, 31) && osAVX512
            f.avx512vnni = bit(l7.c, 11) && osAVX512
            f.amxBF16 = bit(l7.d, 22) && osAMX
            f.amxTile = bit(l7.d, 24) && osAMX
            f.amxInt8 = bit(l7.d, 25) && osAMX
            if l7.a >= 1, let l71 = cpuid(7, 1) { f.avx512bf16 = bit(l71.a, 5) && osAVX512 }
        }
        return f
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
