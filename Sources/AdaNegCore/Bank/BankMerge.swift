/// Merging replicas of a task's bank.
///
/// A row's state is "the L−1 lowest keys among every entry ever offered to it", so merging is
/// set union followed by that selection: commutative, associative and idempotent. Workers can
/// therefore exchange deltas in any order, repeat them, and still converge on the bank a single
/// sequential run holds.
extension MemoryBank {
    /// Applies a delta; returns the entries that changed this bank (what to forward to others).
    /// Entries merged here are not recorded as local inserts.
    @discardableResult
    public mutating func merge(_ delta: BankDelta) -> BankDelta {
        BankDelta(entries: mergeReportingEvictions(delta).accepted)
    }

    /// The one merge (workers' replicas and the coordinator's authoritative bank): applies a
    /// delta and says what changed: the entries accepted and those they evicted. Entries that
    /// do not fit this bank (row out of range, wrong dimension) are skipped and counted, never
    /// trapped on: a delta may come from another process.
    public mutating func mergeReportingEvictions(_ delta: BankDelta) -> BankMergeOutcome {
        var outcome = BankMergeOutcome()
        for entry in delta.entries {
            guard entry.row >= 0, entry.row < rowCount, entry.feature.count == dimension else {
                outcome.malformed += 1
                continue
            }
            switch entry.feature.withUnsafeBufferPointer({ place(row: entry.row, key: entry.key, feature: $0, record: false) }) {
            case .appended:
                outcome.accepted.append(entry)
            case let .replaced(evicted):
                outcome.accepted.append(entry)
                outcome.evicted.append((entry.row, evicted))
            case .rejected, .duplicate:
                break
            }
        }
        return outcome
    }

    /// Merges a whole other bank.
    public mutating func merge(_ other: MemoryBank) {
        merge(BankDelta(entries: other.entries))
    }

    /// Each row's keys as a set: two banks hold the same state exactly when these are equal
    /// (slot order and pool layout may differ).
    public var canonicalState: [Set<BankKey>] {
        (0..<rowCount).map { row in Set(slots(ofRow: row).map(\.key)) }
    }
}

/// What one merge changed in a bank.
public struct BankMergeOutcome: Sendable {
    /// Entries now in the bank that were not before, in delta order.
    public var accepted: [BankEntry] = []
    /// (row, key) of each entry an accepted one replaced.
    public var evicted: [(row: Int, key: BankKey)] = []
    /// Entries skipped because they do not fit the bank.
    public var malformed = 0

    public init() {}
}
