import AdaNegCore
import JobProtocol
import NIOCore

/// The authoritative memory bank of one task, with the version at which each entry was
/// accepted (so workers pull what they miss, oldest first, a budget at a time) and how far each
/// unit's worker has pushed (so workers know the frontier below which every entry is merged).
///
/// Each entry in the bank is also kept as a pull sends it (`BankWire`'s float16 entry, encoded
/// once when the entry is accepted), so a pull is a copy of byte ranges: the bank is pulled far
/// more often than it changes (every sync pulls up to the budget's worth; 64 workers flat out
/// pulled each entry ~15 times), and encoding per pull was the coordinator's largest cost.
struct TaskBank {
    private(set) var bank: MemoryBank
    private(set) var version: Int64
    /// Acceptance log in version order: (version, position). Positions are unique per task.
    private var log: [(version: Int64, position: Int)] = []
    /// position → pool index, for entries currently in the bank.
    private var present: [Int: Int] = [:]
    /// Pool index `p`'s entry as a pull sends it, at `p * entryBytes`: row, key and float16
    /// features (`BankWire.writeEntry`), rewritten whenever the pool slot takes a new entry.
    private var wire: [UInt8] = []
    /// Bytes of one pulled entry.
    let entryBytes: Int
    /// The largest float32 pool reserved up front (1 GiB; its float16 records take half).
    static let reserveLimit = 1 << 30
    /// How far the stream's entries are pushed: see `UnitProgress`.
    private(set) var progress: UnitProgress

    init(rowCount: Int, memoryLength: Int, dimension: Int, stored: [(entry: BankEntry, version: Int64)], version: Int64,
         units: UnitProgress = UnitProgress(units: [])) {
        precondition(stored.allSatisfy { $0.entry.feature.count == dimension }, "stored bank entries must have \(dimension)-dimensional features")
        bank = MemoryBank(rowCount: rowCount, memoryLength: memoryLength, dimension: dimension)
        entryBytes = BankWire.entrySize(dimension: dimension, element: .float16)
        // The bank grows for the whole run: room for every slot up front (virtual memory, not
        // touched until used) spares a copy of the pool and the records at each doubling,
        // which was 9% of the coordinator's CPU at 64 workers flat out. Past `reserveLimit`
        // bytes it grows as it goes.
        let slots = rowCount * max(memoryLength - 1, 0)
        if slots * 4 * dimension <= Self.reserveLimit {
            bank.reservePool(entries: slots)
            wire.reserveCapacity(slots * entryBytes)
        }
        self.version = version
        progress = units
        for (entry, v) in stored {
            bank.insert(entry)
            log.append((v, entry.key.position))
        }
        encode(stored.map(\.entry))
        _ = bank.takeDirtyRows()
    }

    struct MergeOutcome {
        var accepted: [BankEntry]
        var evicted: [(row: Int, position: Int)]
        var version: Int64
    }

    /// Merges a worker's delta (a join: order and repetition do not matter) with the bank's
    /// one merge (`MemoryBank.mergeReportingEvictions`), logging what it accepted.
    mutating func merge(_ delta: BankDelta) -> MergeOutcome {
        let outcome = bank.mergeReportingEvictions(delta)
        _ = bank.takeDirtyRows()
        let evicted = outcome.evicted.map { (row: $0.row, position: $0.key.position) }
        for e in evicted { present[e.position] = nil }
        guard !outcome.accepted.isEmpty else { return MergeOutcome(accepted: [], evicted: [], version: version) }
        version += 1
        for e in outcome.accepted { log.append((version, e.key.position)) }
        encode(outcome.accepted)
        return MergeOutcome(accepted: outcome.accepted, evicted: evicted, version: version)
    }

    /// Records where each of `entries` sits in the pool and encodes it there for pulls; an entry
    /// a later one of the same merge already replaced is not in the bank and is skipped.
    private mutating func encode(_ entries: [BankEntry]) {
        let needed = bank.poolCount * entryBytes
        if wire.count < needed { wire.append(contentsOf: repeatElement(0, count: needed - wire.count)) }
        let (dimension, entryBytes) = (bank.dimension, entryBytes)
        for e in entries {
            guard let (key, pool) = bank.slots(ofRow: e.row).first(where: { $0.key.position == e.key.position }) else { continue }
            present[e.key.position] = pool
            bank.pool.withUnsafeBufferPointer { features in
                let feature = UnsafeBufferPointer(rebasing: features[pool * dimension ..< (pool + 1) * dimension])
                wire.withUnsafeMutableBytes { raw in
                    BankWire.writeEntry(row: e.row, key: key, feature: feature, element: .float16, into: raw, at: pool * entryBytes)
                }
            }
        }
    }

    /// What a pull answers: entries accepted after `since` that are still in the bank, oldest
    /// version first, excluding `positions` (what the caller just sent), whole versions only and
    /// at most `budget` entries (but always the first version, however large: a worker must be
    /// able to move on), as pool indices (`entries(_:)`, `write(_:into:at:)`). `version` is the
    /// version the caller then holds, `behind` the log entries after it (an upper bound of what
    /// is left: some may have been evicted since).
    func pull(since: Int64, excluding positions: Set<Int> = [], budget: Int = .max) -> (pools: [Int], version: Int64, behind: Int) {
        var lo = 0, hi = log.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if log[mid].version <= since { lo = mid + 1 } else { hi = mid }
        }
        var out = [Int]()
        var index = lo
        var reached = max(since, log[..<lo].last?.version ?? since)
        while index < log.count {
            // One whole version at a time.
            let v = log[index].version
            var end = index
            while end < log.count, log[end].version == v { end += 1 }
            let start = out.count
            for (_, position) in log[index..<end] where !positions.contains(position) {
                if let pool = present[position] { out.append(pool) }
            }
            if start > 0, out.count > budget {
                out.removeSubrange(start...)
                break
            }
            reached = v
            index = end
        }
        if index == log.count { reached = version }
        return (out, reached, log.count - index)
    }

    /// Pulled entries as float32 entries (in-process callers): the bank's own features.
    func entries(_ pools: [Int]) -> BankDelta {
        BankDelta(entries: pools.map { pool in
            wire.withUnsafeBytes { raw in
                let at = pool * entryBytes
                let row = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self)))
                let primary = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)))
                let position = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: Int64.self)))
                return BankEntry(row: row, key: BankKey(primary: primary, position: position), feature: bank.feature(atPool: pool))
            }
        })
    }

    /// The reply body of a pull (`BankWire` format, float16): `header`, then each pulled
    /// entry's bytes as encoded when it was accepted.
    func body(_ header: BankWire.Header, _ pools: [Int]) -> ByteBuffer {
        precondition(header.count == pools.count && header.element == .float16 && header.dimension == bank.dimension,
                     "a pull's header does not match its entries")
        let size = header.bodyBytes()
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            BankWire.write(header, into: raw)
            wire.withUnsafeBytes { source in
                var offset = BankWire.headerSize
                for pool in pools {
                    let from = pool * entryBytes
                    UnsafeMutableRawBufferPointer(rebasing: raw[offset ..< offset + entryBytes])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from ..< from + entryBytes]))
                    offset += entryBytes
                }
            }
            return size
        }
        return buffer
    }

    /// Records that every position of a unit below `position` has been pushed.
    mutating func pushed(through position: Int) { progress.pushed(through: position) }

    /// Records that a unit will push nothing more (done, or parked as failed).
    mutating func finished(unitStartingAt first: Int) { progress.finish(unitStartingAt: first) }
}

/// How far each unit of a task's stream has pushed its bank entries, and the frontier: the
/// first position some unit has not pushed yet, so every entry of the positions before it is
/// in the bank. Units are consecutive, sorted by their first position.
struct UnitProgress {
    /// (first position, end position) of each unit, in stream order.
    private let bounds: [(first: Int, end: Int)]
    /// Per unit: every position below this one is pushed (starts at the unit's first).
    private var pushedThrough: [Int]
    /// Index of the first unit not wholly pushed.
    private var next = 0
    /// Units with some progress reported and not wholly pushed: those being worked on.
    private(set) var active = 0

    init(units: [(first: Int, count: Int, finished: Bool)]) {
        let sorted = units.sorted { $0.first < $1.first }
        bounds = sorted.map { ($0.first, $0.first + $0.count) }
        pushedThrough = sorted.map { $0.finished ? $0.first + $0.count : $0.first }
        advance()
    }

    /// The first position whose entries may not all be in the bank (the stream's length when all are).
    var frontier: Int {
        next < bounds.count ? pushedThrough[next] : (bounds.last?.end ?? 0)
    }

    /// The unit holding `position` (a stream position), if any.
    private func unit(holding position: Int) -> Int? {
        var lo = 0, hi = bounds.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bounds[mid].end <= position { lo = mid + 1 } else { hi = mid }
        }
        return lo < bounds.count && bounds[lo].first <= position ? lo : nil
    }

    mutating func pushed(through position: Int) {
        guard position > 0, let u = unit(holding: position - 1) else { return }
        let before = pushedThrough[u]
        guard position > before else { return }
        if before == bounds[u].first { active += 1 }
        pushedThrough[u] = position
        if position >= bounds[u].end { active -= 1 }
        advance()
    }

    mutating func finish(unitStartingAt first: Int) {
        guard let u = unit(holding: first), bounds[u].first == first, pushedThrough[u] < bounds[u].end else { return }
        if pushedThrough[u] > bounds[u].first { active -= 1 }
        pushedThrough[u] = bounds[u].end
        advance()
    }

    private mutating func advance() {
        while next < bounds.count, pushedThrough[next] >= bounds[next].end { next += 1 }
    }
}
