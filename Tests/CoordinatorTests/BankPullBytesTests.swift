import AdaNegCore
@testable import Coordinator
import Foundation
import JobProtocol
import NIOCore
import Testing

/// A pull's body is copied from bytes each entry was encoded to when the bank accepted it
/// (`TaskBank`): these must be exactly what encoding the pulled entries afresh gives, also
/// after pool slots were reused by replacements and when an entry is replaced within the merge
/// that accepted it.
@Suite("Bank pulls from cached float16 bytes")
struct BankPullBytesTests {
    /// Deterministic features with values float16 must round (odd mantissas, subnormal range,
    /// negatives): a cache that kept float32 or truncated would differ.
    static func entry(_ row: Int, _ position: Int, _ priority: Float, dimension: Int) -> BankEntry {
        BankEntry(row: row, key: BankKey(primary: priority, position: position),
                  feature: (0..<dimension).map { i in
                      let x = Float(bitPattern: UInt32(truncatingIfNeeded: (position &* 2_654_435_761) ^ (i &* 40_503)) & 0x3FFF_FFFF | 0x3000_0000)
                      return (i + position).isMultiple(of: 3) ? -x : (i == 0 ? x * 1e-6 : x)
                  })
    }

    /// The body a pull answers, and the same reply encoded from float32 entries by `BankWire`.
    static func bodies(_ bank: TaskBank, since: Int64, excluding: Set<Int> = [], budget: Int = .max) -> (cached: Data, fresh: Data) {
        let pulled = bank.pull(since: since, excluding: excluding, budget: budget)
        var reply = BankSyncReply(version: pulled.version, behind: pulled.behind, frontier: 17, window: 512, maxBehind: nil)
        let header = BankWire.replyHeader(reply, count: pulled.pools.count, since: since, position: 40, dimension: bank.bank.dimension)
        var buffer = bank.body(header, pulled.pools)
        let cached = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        reply.delta = bank.entries(pulled.pools)
        return (cached, BankWire.encode(reply, since: since, position: 40, dimension: bank.bank.dimension))
    }

    @Test("every pull's body equals a fresh encoding of its entries, through replacements and slot reuse")
    func cachedEqualsFresh() throws {
        let dimension = 24
        var bank = TaskBank(rowCount: 5, memoryLength: 3, dimension: dimension, stored: [], version: 0)
        // Room for every slot up front: the pool never moves as the bank fills.
        let reserved = bank.bank.pool.capacity
        #expect(reserved >= 5 * 2 * dimension)
        var position = 0
        var rng = SystemRandomNumberGenerator()
        for version in 0..<40 {
            // Rows fill (2 slots each), then lower priorities replace higher ones: pool slots are reused.
            let delta = (0..<6).map { _ -> BankEntry in
                position += 1
                return Self.entry(Int.random(in: 0..<5, using: &rng), position, Float.random(in: 0...1, using: &rng), dimension: dimension)
            }
            _ = bank.merge(BankDelta(entries: delta))
            for since in [Int64(0), Int64(max(0, version - 3))] {
                let (cached, fresh) = Self.bodies(bank, since: since)
                #expect(cached == fresh, "version \(version), since \(since)")
            }
        }
        #expect(bank.bank.pool.capacity == reserved && bank.bank.poolCount == 10)
        // Every entry still in the bank is pulled from 0, with the bank's own features and keys.
        let all = bank.entries(bank.pull(since: 0).pools)
        #expect(Set(all.entries.map(\.key)) == Set(bank.bank.entries.map(\.key)))
        let (cached, fresh) = Self.bodies(bank, since: 0, excluding: Set(all.entries.prefix(3).map(\.key.position)), budget: 4)
        #expect(cached == fresh)
        // The cached float16 values are HalfPrecision's bits of the pooled float32 features.
        let decoded = try BankWire.decodeReply(Self.bodies(bank, since: 0).cached, dimension: dimension)
        let exact = Dictionary(uniqueKeysWithValues: bank.bank.entries.map { ($0.key.position, $0.feature) })
        for e in decoded.delta.entries {
            let want = try #require(exact[e.key.position]).map { Float(Float16(bitPattern: HalfPrecision.bits($0))) }
            #expect(e.feature == want)
        }
    }

    @Test("an entry replaced within the merge that accepted it is not pulled, and its slot holds the replacement's bytes")
    func replacedWithinMerge() {
        let dimension = 8
        var bank = TaskBank(rowCount: 2, memoryLength: 2, dimension: dimension, stored: [], version: 0)
        // One slot per row: position 2 replaces position 1 (lower priority) in the same merge.
        let outcome = bank.merge(BankDelta(entries: [Self.entry(0, 1, 0.9, dimension: dimension), Self.entry(0, 2, 0.1, dimension: dimension),
                                                     Self.entry(1, 3, 0.5, dimension: dimension)]))
        #expect(outcome.accepted.map(\.key.position) == [1, 2, 3])
        let pulled = bank.entries(bank.pull(since: 0).pools)
        #expect(pulled.entries.map(\.key.position) == [2, 3])
        let (cached, fresh) = Self.bodies(bank, since: 0)
        #expect(cached == fresh)
    }

    @Test("a bank rebuilt from stored entries pulls the same bytes as the one that accepted them")
    func rebuilt() {
        let dimension = 16
        var live = TaskBank(rowCount: 4, memoryLength: 4, dimension: dimension, stored: [], version: 0)
        var stored = [(entry: BankEntry, version: Int64)]()
        for v in 0..<10 {
            let delta = (0..<5).map { Self.entry(($0 + v) % 4, v * 5 + $0, Float((v * 7 + $0 * 3) % 11) / 11, dimension: dimension) }
            let outcome = live.merge(BankDelta(entries: delta))
            let gone = Set(outcome.evicted.map(\.position))
            stored.removeAll { gone.contains($0.entry.key.position) }
            stored += outcome.accepted.map { ($0, outcome.version) }
        }
        let rebuilt = TaskBank(rowCount: 4, memoryLength: 4, dimension: dimension, stored: stored, version: live.version)
        for since in [Int64(0), 4, 9] {
            let a = live.entries(live.pull(since: since).pools), b = rebuilt.entries(rebuilt.pull(since: since).pools)
            #expect(Set(a.entries.map(\.key)) == Set(b.entries.map(\.key)))
            #expect(Self.bodies(rebuilt, since: since).cached == Self.bodies(rebuilt, since: since).fresh)
        }
    }
}
