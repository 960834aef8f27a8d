import JobProtocol
import Testing

@Suite("float16 bits of bank pulls")
struct HalfPrecisionTests {
    @Test("HalfPrecision.bits equals Float16(_:) on every float16 value, its float32 neighbours and halfway points, ±0, ±∞ and a million random floats")
    func sameBitsAsFloat16() {
        func check(_ v: Float) {
            #expect(HalfPrecision.bits(v) == Float16(v).bitPattern, "\(v) (bits \(String(v.bitPattern, radix: 16)))")
        }
        var checked = 0
        for h in UInt16.min...UInt16.max {
            let f = Float(Float16(bitPattern: h))
            guard f.isFinite else { continue }
            // The value, its float32 neighbours, and the halfway points to the next float16.
            let next = Float(Float16(bitPattern: h &+ 1))
            for v in [f, f.nextUp, f.nextDown, (f + next) / 2, ((f + next) / 2).nextUp, ((f + next) / 2).nextDown] where v.isFinite {
                if HalfPrecision.bits(v) != Float16(v).bitPattern { check(v) }
                checked += 1
            }
        }
        for v: Float in [0, -0, .infinity, -.infinity, 65504, 65519.99, 65520, 65536, 1e30, -1e30, .leastNonzeroMagnitude, 5.96e-8, 2.98e-8, 2.99e-8] {
            check(v)
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<1_000_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let v = Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32))
            if v.isNaN {
                #expect(Float16(bitPattern: HalfPrecision.bits(v)).isNaN)
            } else if HalfPrecision.bits(v) != Float16(v).bitPattern {
                check(v)
            }
        }
        #expect(checked > 300_000)
    }

    @Test("HalfPrecision.float equals Float(Float16(bitPattern:)) bit for bit on all 65,536 patterns (subnormals, ±0, ±∞, NaN payloads)")
    func widensAsFloat16() {
        var differing = [UInt16]()
        for bits in UInt16.min...UInt16.max where HalfPrecision.float(bits).bitPattern != Float(Float16(bitPattern: bits)).bitPattern {
            differing.append(bits)
        }
        #expect(differing.isEmpty, "first: \(differing.prefix(8).map { String($0, radix: 16) })")
        // The round trip through both directions keeps every non-NaN value.
        for bits in UInt16.min...UInt16.max where !Float16(bitPattern: bits).isNaN {
            #expect(HalfPrecision.bits(HalfPrecision.float(bits)) == bits)
        }
    }
}
