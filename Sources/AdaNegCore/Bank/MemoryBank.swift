/// The feature memory of AdaNeg: for every label (C ID classes, then M negatives) a row of at
/// most L−1 cached test features, each with a `BankKey`.
///
/// Features live in one contiguous pool (`pool`, row-major, `dimension` wide) so the scorer can
/// multiply a whole batch against every cached feature with one GEMM. A replaced entry reuses
/// its pool slot; the pool only grows when a row gains an entry.
public struct MemoryBank: Sendable {
    public let rowCount: Int
    /// L−1: how many features a row can cache.
    public let capacity: Int
    public let dimension: Int

    // MARK: Storage

    /// Entries per row.
    public private(set) var counts: [Int]
    /// `slotKeys[row * capacity + j]`: key of the j-th entry of `row`.
    private(set) var slotKeys: [BankKey]
    /// `slotPool[row * capacity + j]`: pool index of the j-th entry of `row`.
    private(set) var slotPool: [Int]
    /// Cached features, `poolCount × dimension`.
    public private(set) var pool: [Float] = []
    public private(set) var poolCount = 0

    /// Rows changed since `takeDirtyRows()`; the scorer refreshes their proxies.
    private var dirtyFlags: [Bool]
    private var dirtyRows: [Int] = []

    /// Entries accepted through `insert` since `takeLocalDelta()`.
    private var localDelta: [BankEntry] = []
    private let recordsDelta: Bool

    /// - Parameters:
    ///   - memoryLength: L; the row keeps L−1 features (L = 1 caches nothing).
    ///   - recordsDelta: keep the inserted entries for `takeLocalDelta()` (distributed runs).
    public init(rowCount: Int, memoryLength: Int, dimension: Int, recordsDelta: Bool = false) {
        precondition(rowCount >= 0 && memoryLength >= 1 && dimension > 0)
        self.rowCount = rowCount
        self.capacity = memoryLength - 1
        self.dimension = dimension
        self.counts = [Int](repeating: 0, count: rowCount)
        self.slotKeys = [BankKey](repeating: BankKey(primary: 0, position: 0), count: rowCount * capacity)
        self.slotPool = [Int](repeating: -1, count: rowCount * capacity)
        self.dirtyFlags = [Bool](repeating: false, count: rowCount)
        self.recordsDelta = recordsDelta
    }

    /// Reserves room for `entries` cached features, so a pool that grows to that size is not
    /// copied at each doubling (a coordinator's bank grows for the whole run). Reserved memory
    /// is not touched until used.
    public mutating func reservePool(entries: Int) {
        pool.reserveCapacity(max(0, entries) * dimension)
    }

    // MARK: Reading

    /// Keys and pool indices of a row's entries, in slot order.
    public func slots(ofRow row: Int) -> [(key: BankKey, poolIndex: Int)] {
        (0..<counts[row]).map { (slotKeys[row * capacity + $0], slotPool[row * capacity + $0]) }
    }

    /// Pool index of the j-th entry of `row`.
    @inline(__always)
    public func poolIndex(row: Int, slot: Int) -> Int { slotPool[row * capacity + slot] }

    /// The feature stored at a pool index.
    public func feature(atPool index: Int) -> [Float] {
        Array(pool[index * dimension ..< (index + 1) * dimension])
    }

    /// Every entry, row by row, in slot order.
    public var entries: [BankEntry] {
        var out = [BankEntry]()
        for row in 0..<rowCount {
            for (key, index) in slots(ofRow: row) {
                out.append(BankEntry(row: row, key: key, feature: feature(atPool: index)))
            }
        }
        return out
    }

    /// Total cached features.
    public var entryCount: Int { counts.reduce(0, +) }

    // MARK: Inserting

    /// Offers one feature to a row. Keeps the row's L−1 lowest keys: a non-full row appends;
    /// a full row replaces its highest key if the new key is lower (the reference's
    /// "strictly lower entropy replaces the highest-entropy slot; ties: the latest slot goes").
    @discardableResult
    public mutating func insert(row: Int, key: BankKey, feature: UnsafeBufferPointer<Float>) -> InsertOutcome {
        place(row: row, key: key, feature: feature, record: recordsDelta)
    }

    @discardableResult
    public mutating func insert(_ entry: BankEntry) -> InsertOutcome {
        entry.feature.withUnsafeBufferPointer { insert(row: entry.row, key: entry.key, feature: $0) }
    }

    mutating func place(row: Int, key: BankKey, feature: UnsafeBufferPointer<Float>, record: Bool) -> InsertOutcome {
        precondition(row >= 0 && row < rowCount, "bank row \(row) out of range")
        precondition(feature.count == dimension, "feature has \(feature.count) values, the bank holds \(dimension)")
        guard capacity > 0 else { return .rejected }
        let base = row * capacity
        let n = counts[row]
        var worst = -1
        for j in 0..<n {
            let k = slotKeys[base + j]
            if k.position == key.position { return .duplicate }
            if worst < 0 || slotKeys[base + worst] < k { worst = j }
        }
        let outcome: InsertOutcome
        if n < capacity {
            let index = poolCount
            pool.append(contentsOf: feature)
            poolCount += 1
            slotKeys[base + n] = key
            slotPool[base + n] = index
            counts[row] = n + 1
            outcome = .appended
        } else {
            let evicted = slotKeys[base + worst]
            guard key < evicted else { return .rejected }
            let index = slotPool[base + worst]
            pool.withUnsafeMutableBufferPointer { p in
                _ = UnsafeMutableBufferPointer(rebasing: p[index * dimension ..< (index + 1) * dimension]).update(fromContentsOf: feature)
            }
            slotKeys[base + worst] = key
            outcome = .replaced(evicted: evicted)
        }
        if !dirtyFlags[row] {
            dirtyFlags[row] = true
            dirtyRows.append(row)
        }
        if record {
            localDelta.append(BankEntry(row: row, key: key, feature: Array(feature)))
        }
        return outcome
    }

    // MARK: Change tracking

    /// Rows changed since the last call, in first-change order.
    public mutating func takeDirtyRows() -> [Int] {
        let rows = dirtyRows
        for r in rows { dirtyFlags[r] = false }
        dirtyRows.removeAll(keepingCapacity: true)
        return rows
    }

    /// Entries this replica inserted since the last call (the delta a worker pushes).
    public mutating func takeLocalDelta() -> BankDelta {
        defer { localDelta.removeAll(keepingCapacity: true) }
        return BankDelta(entries: localDelta)
    }
}
