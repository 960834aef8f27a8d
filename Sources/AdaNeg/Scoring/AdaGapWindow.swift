/// The AdaGap variant's running estimate of the share of ID samples among confident ones.
///
/// A window of the last 10,000 gate decisions (1 = ID-confident, 0 = OOD-confident), seeded
/// with 100 of each interleaved as the reference does. Each batch pushes its ID decisions
/// first, then its OOD decisions, both under the fixed gates; the resulting ratio then moves
/// one of the gates used to fill the bank.
struct AdaGapWindow {
    static let capacity = 10_000

    private var ring: [UInt8]
    private var head = 0
    private(set) var count = 0
    private(set) var positives = 0
    private(set) var negatives = 0

    init() {
        ring = [UInt8](repeating: 0, count: Self.capacity)
        for _ in 0..<100 {
            push(1)
            push(0)
        }
    }

    mutating func push(_ decision: UInt8) {
        if count >= Self.capacity {
            let oldest = ring[head]
            if oldest == 1 { positives -= 1 } else { negatives -= 1 }
            head = (head + 1) % Self.capacity
            count -= 1
        }
        ring[(head + count) % Self.capacity] = decision
        count += 1
        if decision == 1 { positives += 1 } else { negatives += 1 }
    }

    var ratio: Double { Double(positives) / Double(positives + negatives) }

    /// The gates for this batch given the current ratio r: r > 0.5 moves the OOD gate to
    /// `γ − rγ`; r < 0.5 moves the ID gate to `γ + (1−r)(1−γ)`.
    func gates(_ p: ScoringParameters) -> (id: Float, ood: Float) {
        let r = ratio
        if r > 0.5 { return (p.idGate, Float(p.threshold - r * p.threshold)) }
        if r < 0.5 { return (Float(p.threshold + (1 - r) * (1 - p.threshold)), p.oodGate) }
        return (p.idGate, p.oodGate)
    }
}
