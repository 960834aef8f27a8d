import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// Image references and stored features, written.
extension StoreWriter {
    /// Inserts the resolved references of one image set (inside the job's transaction).
    public func insertItems(job: Int64, set: Int, refs: [String]) throws(StoreError) {
        let insert = try db.prepare("INSERT INTO items (job_id, set_index, item_index, ref) VALUES (?, ?, ?, ?)")
        for (item, ref) in refs.enumerated() {
            try insert.run([.int(job), .int(Int64(set)), .int(Int64(item)), .text(ref)])
        }
    }

    /// Stores features (or errors) per reference; the first stored value of an image wins, as
    /// every worker computes the same one. Runs inside the caller's transaction when there is one.
    public func storeFeatures(model: String, entries: [(ref: String, vector: [Float]?, error: String?)]) throws(StoreError) {
        let insert = try db.prepare("INSERT OR IGNORE INTO features (model, ref, vector, error) VALUES (?, ?, ?, ?)")
        for e in entries {
            try insert.run([.text(model), .text(e.ref), e.vector.map { .blob(Self.bytes($0)) } ?? .null, e.error.map { .text($0) } ?? .null])
        }
    }

    /// Drops the features of a job's images (`keep_features: false`, once the job is done);
    /// images another job also lists keep theirs.
    public func deleteFeatures(job: Int64, model: String) throws(StoreError) {
        try db.prepare("""
            DELETE FROM features WHERE model = ? AND ref IN (SELECT ref FROM items WHERE job_id = ?)
              AND ref NOT IN (SELECT ref FROM items WHERE job_id != ?)
            """).run([.text(model), .int(job), .int(job)])
    }
}
