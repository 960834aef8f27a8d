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
        var accepted = [BankEntry]()
        for entry in delta.entries {
            precondition(entry.row >= 0 && entry.row < rowCount, "delta entry for row \(entry.row), bank has \(rowCount) rows")
            guard entry.feature.count == dimension else {
                preconditionFailure("delta entry has \(entry.feature.count) values, the bank holds \(dimension)")
            }
            let outcome = entry.feature.withUnsafeBufferPointer { place(row: entry.row, key: entry.key, feature: $0, record: false) }
            switch outcome {
            case .appended, .replaced: accepted.append(entry)
            case .rejected, .duplicate: break
            }
        }
        return BankDelta(entries: accepted)
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
