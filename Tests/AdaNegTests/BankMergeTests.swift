import Testing
@testable import AdaNeg

/// Property tests for the bank join (docs/algorithm.md, "The stream and the distributed memory"), over many random entry sets.
@Suite("Memory bank merge")
struct BankMergeTests {
    static let rows = 6, memoryLength = 4, dimension = 3

    /// Random entries with unique positions and deliberately tied priorities.
    func randomEntries(_ count: Int, _ rng: inout SplitMix64, policyFirst: Bool = false) -> [BankEntry] {
        var positions = Array(0..<(count * 3))
        positions.shuffle(using: &rng)
        return (0..<count).map { i in
            let primary: Float = policyFirst ? 0 : Float(rng.next(upperBound: 5)) / 4
            return BankEntry(row: Int(rng.next(upperBound: UInt64(Self.rows))),
                             key: BankKey(primary: primary, position: positions[i]),
                             feature: (0..<Self.dimension).map { _ in Float(rng.nextUnit()) })
        }
    }

    func bank(_ entries: [BankEntry]) -> MemoryBank {
        var b = MemoryBank(rowCount: Self.rows, memoryLength: Self.memoryLength, dimension: Self.dimension)
        b.merge(BankDelta(entries: entries))
        return b
    }

    func merged(_ a: MemoryBank, _ b: MemoryBank) -> MemoryBank {
        var out = a
        out.merge(b)
        return out
    }

    @Test("merge is commutative, associative and idempotent", arguments: [false, true])
    func joinLaws(firstPolicy: Bool) {
        var rng = SplitMix64(seed: firstPolicy ? 7 : 3)
        for _ in 0..<200 {
            // One universe of entries (a position is one sample, so it has one key); the three
            // banks see overlapping random subsets of it.
            let universe = randomEntries(30, &rng, policyFirst: firstPolicy)
            func subset(_ rng: inout SplitMix64) -> [BankEntry] { universe.filter { _ in rng.next(upperBound: 3) == 0 } }
            let a = bank(subset(&rng))
            let b = bank(subset(&rng))
            let c = bank(subset(&rng))
            #expect(merged(a, b).canonicalState == merged(b, a).canonicalState)
            #expect(merged(merged(a, b), c).canonicalState == merged(a, merged(b, c)).canonicalState)
            #expect(merged(a, a).canonicalState == a.canonicalState)
            #expect(merged(merged(a, b), b).canonicalState == merged(a, b).canonicalState)
        }
    }

    @Test("any split of the entries, merged in any order, equals sequential insertion")
    func convergence() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<200 {
            let entries = randomEntries(30, &rng)
            var sequential = MemoryBank(rowCount: Self.rows, memoryLength: Self.memoryLength, dimension: Self.dimension)
            for e in entries.sorted(by: { $0.key.position < $1.key.position }) { sequential.insert(e) }
            var parts: [[BankEntry]] = [[], [], []]
            for e in entries { parts[Int(rng.next(upperBound: 3))].append(e) }
            var order = [0, 1, 2]
            order.shuffle(using: &rng)
            var combined = MemoryBank(rowCount: Self.rows, memoryLength: Self.memoryLength, dimension: Self.dimension)
            for p in order { combined.merge(BankDelta(entries: parts[p].shuffled(using: &rng))) }
            #expect(combined.canonicalState == sequential.canonicalState)
            for row in 0..<Self.rows { #expect(combined.counts[row] <= Self.memoryLength - 1) }
        }
    }

    @Test("a full row keeps its lowest keys; ties on priority evict the latest position")
    func replacementRule() {
        var b = MemoryBank(rowCount: 1, memoryLength: 3, dimension: 1)
        let f: [Float] = [1]
        f.withUnsafeBufferPointer { p in
            #expect(b.insert(row: 0, key: BankKey(primary: 0.5, position: 0), feature: p) == .appended)
            #expect(b.insert(row: 0, key: BankKey(primary: 0.5, position: 1), feature: p) == .appended)
            // equal entropy, later position: not strictly lower → dropped
            #expect(b.insert(row: 0, key: BankKey(primary: 0.5, position: 2), feature: p) == .rejected)
            // lower entropy evicts the tied maximum placed last (position 1)
            #expect(b.insert(row: 0, key: BankKey(primary: 0.25, position: 3), feature: p)
                == .replaced(evicted: BankKey(primary: 0.5, position: 1)))
            #expect(b.insert(row: 0, key: BankKey(primary: 0.25, position: 3), feature: p) == .duplicate)
        }
        var none = MemoryBank(rowCount: 1, memoryLength: 1, dimension: 1)
        f.withUnsafeBufferPointer { p in #expect(none.insert(row: 0, key: BankKey(primary: 0, position: 0), feature: p) == .rejected) }
    }

    @Test("local deltas hold what this replica inserted, not what it merged")
    func localDelta() {
        var b = MemoryBank(rowCount: 2, memoryLength: 3, dimension: 1, recordsDelta: true)
        b.insert(BankEntry(row: 0, key: BankKey(primary: 0.1, position: 4), feature: [1]))
        b.merge(BankDelta(entries: [BankEntry(row: 1, key: BankKey(primary: 0.1, position: 5), feature: [2])]))
        let delta = b.takeLocalDelta()
        #expect(delta.entries.map(\.key.position) == [4])
        #expect(b.takeLocalDelta().isEmpty)
    }
}
