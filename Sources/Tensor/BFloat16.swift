/// Conversions between fp32 and bfloat16 (the top 16 bits of an IEEE fp32), stored as `UInt16`.
///
/// Rounding is to nearest, ties to even, as torch and oneDNN round; NaN stays NaN. The loops are
/// plain integer arithmetic over contiguous storage so the compiler vectorises them.
public enum BFloat16 {
    @inline(__always)
    public static func fromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 } // quiet NaN
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    @inline(__always)
    public static func toFloat(_ value: UInt16) -> Float {
        Float(bitPattern: UInt32(value) << 16)
    }

    /// Rounds eight values at once (the same arithmetic as `convert`), for kernels that write
    /// their fp32 results straight out as bf16.
    @inline(__always)
    public static func round(_ values: SIMD8<Float>) -> SIMD8<UInt16> {
        let b = unsafeBitCast(values, to: SIMD8<UInt32>.self)
        return SIMD8<UInt16>(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b &>> 16) & 1)) &>> 16)
    }

    /// Rounds `count` values. Inputs are model activations and weights, which are finite: the
    /// NaN case is handled by `fromFloat` for single values, and here by the same arithmetic,
    /// which keeps a NaN's top bits (never turning it into infinity would need a branch per value).
    public static func convert(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<UInt16>, count: Int) {
        source.withMemoryRebound(to: UInt32.self, capacity: count) { bits in
            for i in 0..<count {
                let b = bits[i]
                destination[i] = UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
            }
        }
    }

    /// Rounds a whole array.
    public static func convert(_ values: [Float]) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: values.count) { out, initialized in
            values.withUnsafeBufferPointer { src in
                if let s = src.baseAddress, let d = out.baseAddress { convert(s, to: d, count: values.count) }
            }
            initialized = values.count
        }
    }

    /// Widens a whole array back to fp32.
    public static func widen(_ values: [UInt16]) -> [Float] {
        values.map(toFloat)
    }
}
