/// The order in which the kept negative columns are split into groups.
///
/// The official run permutes the negatives once with `torch.randperm` under seed 0 (that
/// permutation ships in `data/`); a job that does not reproduce the paper derives its own from
/// its seed. Either way the permutation is fixed for a whole task.
public struct NegativePermutation: Sendable, Equatable {
    /// `indices[j]` is the negative column (0-based, among the kept M') placed at position j.
    public let indices: [Int]

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case wrongLength(expected: Int, found: Int)
        case notAPermutation(position: Int, value: Int)

        public var description: String {
            switch self {
            case let .wrongLength(expected, found):
                "the permutation has \(found) entries, the kept negatives need \(expected) (M − M mod G)"
            case let .notAPermutation(position, value):
                "entry \(position) is \(value): the permutation must hold each of 0..<length exactly once"
            }
        }
    }

    /// No permutation.
    public static func identity(count: Int) -> NegativePermutation {
        NegativePermutation(uncheckedIndices: Array(0..<count))
    }

    /// A Fisher–Yates shuffle driven by SplitMix64: deterministic across platforms.
    public static func seeded(_ seed: UInt64, count: Int) -> NegativePermutation {
        var rng = SplitMix64(seed: seed)
        var indices = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next(upperBound: UInt64(i + 1)))
                indices.swapAt(i, j)
            }
        }
        return NegativePermutation(uncheckedIndices: indices)
    }

    /// A permutation read from a file, validated.
    public init(indices: [Int], expectedCount: Int) throws(Problem) {
        guard indices.count == expectedCount else { throw .wrongLength(expected: expectedCount, found: indices.count) }
        var seen = [Bool](repeating: false, count: expectedCount)
        for (position, value) in indices.enumerated() {
            guard value >= 0, value < expectedCount, !seen[value] else { throw .notAPermutation(position: position, value: value) }
            seen[value] = true
        }
        self.indices = indices
    }

    private init(uncheckedIndices: [Int]) {
        self.indices = uncheckedIndices
    }

    public var isIdentity: Bool { indices.enumerated().allSatisfy { $0.offset == $0.element } }
}

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and the same on every platform,
/// which `SystemRandomNumberGenerator` is not.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<upperBound` without modulo bias (Lemire's method).
    public mutating func next(upperBound: UInt64) -> UInt64 {
        precondition(upperBound > 0)
        var m = next().multipliedFullWidth(by: upperBound)
        if m.low < upperBound {
            let t = (0 &- upperBound) % upperBound
            while m.low < t { m = next().multipliedFullWidth(by: upperBound) }
        }
        return m.high
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Double {
        var u = nextUnit()
        while u <= 0 { u = nextUnit() }
        let v = nextUnit()
        return (-2 * _logd(u)).squareRoot() * _cosd(2 * .pi * v)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _logd(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cosd(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) func _logd(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cosd(_ x: Double) -> Double { Foundation.cos(x) }
#endif
