import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

extension StoreWriter {
    /// Persists one merge: accepted entries in, evicted entries out, the new version, atomically.
    /// `features`: for image jobs, the accepted entries' features stored per image (`refs`: the
    /// image of each accepted entry), so a restarted coordinator can rebuild the bank before
    /// those units complete.
    public func applyBankMerge(task: Int64, accepted: [BankEntry], evicted: [(row: Int, position: Int)], version: Int64,
                               features: (model: String, refs: [String?])? = nil) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            if let features {
                let entries = zip(features.refs, accepted).compactMap { ref, e in ref.map { (ref: $0, vector: Optional(e.feature), error: String?.none) } }
                try storeFeatures(model: features.model, entries: entries)
            }
            let delete = try db.prepare("DELETE FROM bank_entries WHERE task_id = ? AND position = ?")
            for e in evicted { try delete.run([.int(task), .int(Int64(e.position))]) }
            let insert = try db.prepare("INSERT OR REPLACE INTO bank_entries (task_id, row, priority, position, version) VALUES (?, ?, ?, ?, ?)")
            for e in accepted {
                try insert.run([.int(task), .int(Int64(e.row)), .double(Double(e.key.primary)), .int(Int64(e.key.position)), .int(version)])
            }
            try db.prepare("UPDATE tasks SET bank_version = ? WHERE id = ?").run([.int(version), .int(task)])
        }
    }
}
