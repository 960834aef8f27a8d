import AdaNegCore
import JobPlan
import JobProtocol

/// Memory-bank entries as stored: everything but the feature, which is read back from the
/// sample's own feature row.
extension StoreReader {
    /// A stored bank entry: everything but the feature (see `schema.sql`).
    public struct StoredBankEntry {
        public var row: Int
        public var key: BankKey
        public var version: Int64
    }

    /// All stored entries of a task's bank, in acceptance order.
    public func bankEntries(task: Int64) throws(StoreError) -> [StoredBankEntry] {
        let q = try db.prepare("SELECT row, priority, position, version FROM bank_entries WHERE task_id = ? ORDER BY version, position")
        try q.bind([.int(task)])
        var out = [StoredBankEntry]()
        while try q.step() {
            out.append(StoredBankEntry(row: Int(q.int(0)), key: BankKey(primary: Float(q.double(1)), position: Int(q.int(2))), version: q.int(3)))
        }
        return out
    }
}
