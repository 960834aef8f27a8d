/// A vectorised single-precision `exp`.
///
/// The scorer evaluates millions of exponentials per batch (softmaxes over 11,000 labels for
/// 256 samples, twice), and the scalar libm call dominates the profile. This is the classic
/// Cephes range reduction `x = n·ln2 + r` with a degree-6 polynomial for `e^r`, accurate to
/// about 2 ulp over the whole float range, eight lanes at a time.
public enum FastExp {
    public typealias Lanes = SIMD8<Float>

    @usableFromInline static let log2e: Float = 1.44269504088896341
    @usableFromInline static let ln2Hi: Float = 0.693359375
    @usableFromInline static let ln2Lo: Float = -2.12194440e-4
    @usableFromInline static let upper: Float = 88.3762626647949
    @usableFromInline static let lower: Float = -87.3365447504 // below this e^x is subnormal: flush to 0

    /// `e^x` for eight lanes.
    @inlinable @inline(__always)
    public static func exp(_ x: Lanes) -> Lanes {
        // Out-of-range lanes compute garbage that is then overwritten: cheaper than clamping
        // (generic SIMD min/max are not vectorised).
        let tooSmall = x .< Lanes(repeating: lower)
        let tooLarge = x .> Lanes(repeating: upper)
        var v = x
        // Round x·log2(e) to the nearest integer with the 1.5·2²³ trick: after the add, the
        // integer sits in the low mantissa bits, so n and 2ⁿ come from bit casts, not from
        // (slow, scalarised) generic float↔int conversions.
        let magic = Lanes(repeating: 12_582_912)
        let shifted = v * log2e + magic
        let n = shifted - magic
        v = v - n * ln2Hi
        v = v - n * ln2Lo
        let z = v * v
        var p: Lanes = Lanes(repeating: 1.9875691500e-4)
        p = p * v + 1.3981999507e-3
        p = p * v + 8.3334519073e-3
        p = p * v + 4.1665795894e-2
        p = p * v + 1.6666665459e-1
        p = p * v + 5.0000001201e-1
        p = p * z + v + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: Lanes.self)
        var result = p * scale
        result.replace(with: 0, where: tooSmall)
        result.replace(with: .infinity, where: tooLarge)
        return result
    }

    /// `e^x` for one value, through the same polynomial (so scalar tails agree with the lanes).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        exp(Lanes(repeating: x))[0]
    }
}
