import Foundation

/// Image references and stored features (schema version 2).
extension SQLiteStore {
    /// A stored feature or the error that stands in for it.
    struct StoredFeature {
        var vector: [Float]?
        var error: String?
    }

    /// Inserts the resolved references of one image set (inside the job's transaction).
    func insertItems(job: Int64, set: Int, refs: [String]) throws(StoreError) {
        let insert = try db.prepare("INSERT INTO items (job_id, set_index, item_index, ref) VALUES (?, ?, ?, ?)")
        for (item, ref) in refs.enumerated() {
            try insert.run([.int(job), .int(Int64(set)), .int(Int64(item)), .text(ref)])
        }
    }

    /// The reference of each (set, item); nil for items of feature sets.
    func refs(job: Int64, sets: [Int], items: [Int]) throws(StoreError) -> [String?] {
        let q = try db.prepare("SELECT ref FROM items WHERE job_id = ? AND set_index = ? AND item_index = ?")
        var out = [String?]()
        out.reserveCapacity(sets.count)
        for (set, item) in zip(sets, items) {
            try q.bind([.int(job), .int(Int64(set)), .int(Int64(item))])
            out.append(try q.step() ? q.text(0) : nil)
        }
        return out
    }

    /// Stored features for `refs` under `model`: nil where nothing is stored.
    func features(model: String, refs: [String?]) throws(StoreError) -> [StoredFeature?] {
        let q = try db.prepare("SELECT vector, error FROM features WHERE model = ? AND ref = ?")
        var out = [StoredFeature?]()
        out.reserveCapacity(refs.count)
        for ref in refs {
            guard let ref else { out.append(nil); continue }
            try q.bind([.text(model), .text(ref)])
            out.append(try q.step() ? StoredFeature(vector: q.isNull(0) ? nil : Self.floats(q.blob(0)), error: q.text(1)) : nil)
        }
        return out
    }

    /// The stored feature of one item of an image set.
    func feature(job: Int64, set: Int, item: Int, model: String) throws(StoreError) -> StoredFeature {
        let ref = try refs(job: job, sets: [set], items: [item])[0]
        return try features(model: model, refs: [ref])[0] ?? StoredFeature(vector: nil, error: nil)
    }

    /// Stores features (or errors) per reference; the first stored value of an image wins, as
    /// every worker computes the same one. Runs inside the caller's transaction when there is one.
    func storeFeatures(model: String, entries: [(ref: String, vector: [Float]?, error: String?)]) throws(StoreError) {
        let insert = try db.prepare("INSERT OR IGNORE INTO features (model, ref, vector, error) VALUES (?, ?, ?, ?)")
        for e in entries {
            try insert.run([.text(model), .text(e.ref), e.vector.map { .blob(Self.bytes($0)) } ?? .null, e.error.map { .text($0) } ?? .null])
        }
    }

    /// Drops the features of a job's images (`keep_features: false`, once the job is done);
    /// images another job also lists keep theirs.
    func deleteFeatures(job: Int64, model: String) throws(StoreError) {
        try db.prepare("""
            DELETE FROM features WHERE model = ? AND ref IN (SELECT ref FROM items WHERE job_id = ?)
              AND ref NOT IN (SELECT ref FROM items WHERE job_id != ?)
            """).run([.text(model), .int(job), .int(job)])
    }

    /// Stored samples (set, item) → reference for the bank entries at `positions` of a task.
    func refs(task: Int64, job: Int64, positions: [Int]) throws(StoreError) -> [String?] {
        let q = try db.prepare("SELECT set_index, item_index FROM samples WHERE task_id = ? AND position = ?")
        var sets = [Int](), items = [Int]()
        for p in positions {
            try q.bind([.int(task), .int(Int64(p))])
            if try q.step() { sets.append(Int(q.int(0))); items.append(Int(q.int(1))) } else { sets.append(-1); items.append(-1) }
        }
        return try refs(job: job, sets: sets, items: items)
    }

    static func bytes(_ v: [Float]) -> Data { v.withUnsafeBytes { Data($0) } }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}
