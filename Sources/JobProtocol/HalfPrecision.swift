/// float32 → float16 bits, rounded to nearest even: the same bits as `Float16(value).bitPattern`
/// for every finite value and ±∞ (NaN stays a quiet NaN), in plain integer and float32
/// arithmetic. On x86-64 without F16C, Swift's `Float16(_:)` is a call into compiler-rt
/// (`__truncsfhf2`) per value; a bank pull converts up to the budget's 128 K values per sync,
/// which made that call the coordinator's largest single cost (perf, 64 workers flat out).
/// F. Giesen's `float_to_half_fast3_rtne`.
public enum HalfPrecision {
    @inline(__always)
    public static func bits(_ value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = x & 0x8000_0000
        let a = x ^ sign
        let o: UInt32
        if a >= 0x4780_0000 {
            // 2^16 or more, ∞ or NaN: ∞, or a quiet NaN keeping the top payload bits.
            o = a > 0x7F80_0000 ? 0x7E00 | ((a >> 13) & 0x3FF) : 0x7C00
        } else if a < 0x3880_0000 {
            // Below 2^-14: a float16 subnormal or zero. Adding 0.5 aligns the 10 mantissa
            // bits at the bottom, rounded to nearest even by the float32 addition itself.
            o = (Float(bitPattern: a) + 0.5).bitPattern &- 0x3F00_0000
        } else {
            // Normal: rebias the exponent (−112 << 23) and round the 13 dropped bits to even.
            o = (a &+ 0xC800_0FFF &+ ((a >> 13) & 1)) >> 13
        }
        return UInt16(truncatingIfNeeded: o | (sign >> 16))
    }

    /// float16 bits → float32: exactly `Float(Float16(bitPattern: bits))` for all 65,536 bit
    /// patterns (NaN payloads kept, quietened), in integer arithmetic. On x86-64 without F16C that
    /// initialiser is a call into compiler-rt (`__extendhfsf2`) per value; a worker widens every
    /// pulled feature (up to the budget's 128 K values per sync), and 1,000 simulated workers in
    /// one process spent a quarter of their CPU there (perf, issue 26 target a). F. Giesen's
    /// `half_to_float`.
    @inline(__always)
    public static func float(_ bits: UInt16) -> Float {
        let shiftedExponent: UInt32 = 0x7C00 << 13
        var o = UInt32(bits & 0x7FFF) << 13
        let exponent = o & shiftedExponent
        o &+= (127 - 15) << 23
        if exponent == shiftedExponent {
            // ∞ or NaN: the float32 exponent all ones, the payload kept; a NaN comes out
            // quiet, as `Float(Float16)` makes it.
            o &+= (128 - 16) << 23
            if bits & 0x03FF != 0 { o |= 0x0040_0000 }
        } else if exponent == 0 {
            // Zero or subnormal: renormalised exactly by one float32 subtraction of 2^-14.
            o &+= 1 << 23
            o = (Float(bitPattern: o) - Float(bitPattern: 113 << 23)).bitPattern
        }
        return Float(bitPattern: o | (UInt32(bits & 0x8000) << 16))
    }
}
