import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// The memory banks' merges, stored on the one writer: a task's bank actor queues each merge
/// through the coordinator's group commit (`GroupCommit`, `Coordinator.write`), so merges of
/// many tasks and workers share one transaction, and the database keeps one write connection.
extension StoreWriter {
    /// Persists one merge: accepted entries in, evicted entries out, the new version, atomically.
    /// `featureModel`: for image jobs, the accepted entries' features are stored per image under
    /// this model key, so a restarted coordinator can rebuild the bank before those units
    /// complete. This is the one place an accepted feature is written: the completion's insert
    /// of the same image is ignored (`storeFeatures`: the first value wins).
    public func applyBankMerge(task: Int64, job: Int64, accepted: [BankEntry], evicted: [(row: Int, position: Int)], version: Int64,
                               featureModel: String? = nil) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            if let featureModel {
                let refs = try refs(task: task, job: job, positions: accepted.map(\.key.position))
                let insert = try db.prepare("INSERT OR IGNORE INTO features (model, ref, vector, error) VALUES (?, ?, ?, NULL)")
                for (ref, e) in zip(refs, accepted) {
                    guard let ref else { continue }
                    try insert.run([.text(featureModel), .text(ref), .blob(Self.bytes(e.feature))])
                }
            }
            try db.cached("DELETE FROM bank_entries WHERE task_id = ? AND position = ?") { delete throws(StoreError) in
                for e in evicted { try delete.run([.int(task), .int(Int64(e.position))]) }
            }
            try db.cached("INSERT OR REPLACE INTO bank_entries (task_id, row, priority, position, version) VALUES (?, ?, ?, ?, ?)") { insert throws(StoreError) in
                for e in accepted {
                    try insert.run([.int(task), .int(Int64(e.row)), .double(Double(e.key.primary)), .int(Int64(e.key.position)), .int(version)])
                }
            }
            try db.run("UPDATE tasks SET bank_version = max(bank_version, ?) WHERE id = ?", [.int(version), .int(task)])
        }
    }
}
