/// The order in which a memory-bank row keeps its entries: lowest key first.
///
/// `primary` is the entry's entropy under the `entropy` policy and 0 under `first`; ties go to
/// the earlier stream position. Because this order is total and every entry has a unique
/// position, "keep the L−1 lowest keys" makes merging banks a join (see `MemoryBank.merge`).
public struct BankKey: Hashable, Comparable, Sendable {
    public var primary: Float
    public var position: Int

    public init(primary: Float, position: Int) {
        self.primary = primary
        self.position = position
    }

    public static func < (a: BankKey, b: BankKey) -> Bool {
        a.primary != b.primary ? a.primary < b.primary : a.position < b.position
    }
}

/// One cached test feature: which label row it belongs to, its key, and the feature itself.
public struct BankEntry: Sendable, Equatable {
    public var row: Int
    public var key: BankKey
    public var feature: [Float]

    public init(row: Int, key: BankKey, feature: [Float]) {
        self.row = row
        self.key = key
        self.feature = feature
    }
}

/// Entries exchanged between replicas of a task's bank. Applying a delta is idempotent and
/// order-independent, so a delta may be sent twice or arrive late without harm.
public struct BankDelta: Sendable, Equatable {
    public var entries: [BankEntry]

    public init(entries: [BankEntry] = []) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }
}

/// What happened to an entry offered to a row.
public enum InsertOutcome: Equatable, Sendable {
    case appended
    /// Replaced the entry that had `evicted` as its key.
    case replaced(evicted: BankKey)
    /// The row is full of lower keys.
    case rejected
    /// The row already holds an entry for this stream position.
    case duplicate
}
