import AdaNegCore

/// The authoritative memory bank of one task, with the version at which each entry was
/// accepted so workers can pull what they miss.
struct TaskBank {
    var bank: MemoryBank
    private(set) var version: Int64
    /// Acceptance log in version order: (version, position). Positions are unique per task.
    private var log: [(version: Int64, position: Int)] = []
    /// position → row, for entries currently in the bank.
    private var present: [Int: Int] = [:]

    init(rowCount: Int, memoryLength: Int, dimension: Int, stored: [(entry: BankEntry, version: Int64)], version: Int64) {
        precondition(stored.allSatisfy { $0.entry.feature.count == dimension }, "stored bank entries must have \(dimension)-dimensional features")
        bank = MemoryBank(rowCount: rowCount, memoryLength: memoryLength, dimension: dimension)
        self.version = version
        for (entry, v) in stored {
            bank.insert(entry)
            log.append((v, entry.key.position))
            present[entry.key.position] = entry.row
        }
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
        for e in outcome.accepted {
            log.append((version, e.key.position))
            present[e.key.position] = e.row
        }
        return MergeOutcome(accepted: outcome.accepted, evicted: evicted, version: version)
    }

    /// Entries accepted after `since` that are still in the bank, excluding `positions`
    /// (what the caller just sent).
    func entries(since: Int64, excluding positions: Set<Int> = []) -> BankDelta {
        var lo = 0, hi = log.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if log[mid].version <= since { lo = mid + 1 } else { hi = mid }
        }
        var out = [BankEntry]()
        for (_, position) in log[lo...] where !positions.contains(position) {
            guard let row = present[position] else { continue }
            for (key, index) in bank.slots(ofRow: row) where key.position == position {
                out.append(BankEntry(row: row, key: key, feature: bank.feature(atPool: index)))
            }
        }
        return BankDelta(entries: out)
    }
}
