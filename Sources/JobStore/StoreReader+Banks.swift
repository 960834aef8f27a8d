import AdaNegCore
import JobPlan
import JobProtocol

/// Memory-bank entries as stored: the entry, its sample, and for image samples the stored
/// feature; a feature-file sample's feature is read back from its file's row.
extension StoreReader {
    /// A stored bank entry with what locates its feature.
    public struct StoredBankEntry {
        public var row: Int
        public var key: BankKey
        public var version: Int64
        /// The sample's set and item (nil: the stream has no such position).
        public var set: Int?
        public var item: Int?
        /// The image's stored feature under the model asked for (nil for feature-file samples,
        /// and for an image whose feature is not stored).
        public var feature: [Float]?
    }

    /// All stored entries of a task's bank, in acceptance order, with their samples and (for
    /// `model`) the stored image features: one query, however many entries.
    public func bankEntries(task: Int64, job: Int64, model: String?) throws(StoreError) -> [StoredBankEntry] {
        let q = try db.prepare("""
            SELECT b.row, b.priority, b.position, b.version, s.set_index, s.item_index, f.vector
            FROM bank_entries b
            LEFT JOIN samples s ON s.task_id = b.task_id AND s.position = b.position
            LEFT JOIN items i ON i.job_id = ? AND i.set_index = s.set_index AND i.item_index = s.item_index
            LEFT JOIN features f ON f.model = ? AND f.ref = i.ref
            WHERE b.task_id = ? ORDER BY b.version, b.position
            """)
        try q.bind([.int(job), model.map { .text($0) } ?? .null, .int(task)])
        var out = [StoredBankEntry]()
        while try q.step() {
            out.append(StoredBankEntry(row: Int(q.int(0)), key: BankKey(primary: Float(q.double(1)), position: Int(q.int(2))), version: q.int(3),
                                       set: q.isNull(4) ? nil : Int(q.int(4)), item: q.isNull(5) ? nil : Int(q.int(5)),
                                       feature: q.isNull(6) ? nil : Self.floats(q.blob(6))))
        }
        return out
    }

    /// Each unit of a task: its first position, sample count, and whether it will push nothing
    /// more (done, or parked as failed). The banks build their frontier from these.
    public func unitSpans(task: Int64) throws(StoreError) -> [(first: Int, count: Int, finished: Bool)] {
        let q = try db.prepare("SELECT first_sample, sample_count, state IN ('done', 'failed') FROM units WHERE task_id = ? ORDER BY first_sample")
        try q.bind([.int(task)])
        var out = [(first: Int, count: Int, finished: Bool)]()
        while try q.step() { out.append((Int(q.int(0)), Int(q.int(1)), q.int(2) != 0)) }
        return out
    }
}
