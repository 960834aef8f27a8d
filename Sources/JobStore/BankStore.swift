import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// The memory banks' own connection to the coordinator's database: one per task's bank actor,
/// so a merge is persisted without waiting for the `Coordinator` actor (leases, completions)
/// and merges of different tasks run in parallel. SQLite still takes one write transaction at
/// a time (WAL: readers never wait), each a few milliseconds; `StoreWriter`'s lock covers
/// this connection too, since it belongs to the same process. Sendable only to be handed to
/// the one actor that uses it (`@unchecked`: nothing else may).
public final class BankStore: StoreReader, @unchecked Sendable {
    /// A second connection to the database this process's `StoreWriter` has open, locked and
    /// migrated; nil for an in-memory database, which has no second connection (its banks
    /// then live in memory only).
    public static func open(databasePath path: String) throws(StoreError) -> BankStore? {
        guard path != ":memory:" else { return nil }
        let connection = try SQLiteConnection(path: path)
        // Per connection, as the writer's (`Schema.prepare`): WAL is the file's, but without
        // these every merge's commit would sync the disk and foreign keys go unchecked.
        try connection.execute("PRAGMA synchronous = NORMAL")
        try connection.execute("PRAGMA foreign_keys = ON")
        return BankStore(connection: connection)
    }

    /// Persists one merge: accepted entries in, evicted entries out, the new version, atomically.
    /// `features`: for image jobs, the accepted entries' features stored per image (`refs`: the
    /// image of each accepted entry), so a restarted coordinator can rebuild the bank before
    /// those units complete. This is the one place an accepted feature is written: the
    /// completion's insert of the same image is ignored (`storeFeatures`: the first value wins).
    public func applyBankMerge(task: Int64, accepted: [BankEntry], evicted: [(row: Int, position: Int)], version: Int64,
                               features: (model: String, refs: [String?])? = nil) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            if let features {
                let insert = try db.prepare("INSERT OR IGNORE INTO features (model, ref, vector, error) VALUES (?, ?, ?, NULL)")
                for (ref, e) in zip(features.refs, accepted) {
                    guard let ref else { continue }
                    try insert.run([.text(features.model), .text(ref), .blob(Self.bytes(e.feature))])
                }
            }
            let delete = try db.prepare("DELETE FROM bank_entries WHERE task_id = ? AND position = ?")
            for e in evicted { try delete.run([.int(task), .int(Int64(e.position))]) }
            let insert = try db.prepare("INSERT OR REPLACE INTO bank_entries (task_id, row, priority, position, version) VALUES (?, ?, ?, ?, ?)")
            for e in accepted {
                try insert.run([.int(task), .int(Int64(e.row)), .double(Double(e.key.primary)), .int(Int64(e.key.position)), .int(version)])
            }
            try db.prepare("UPDATE tasks SET bank_version = max(bank_version, ?) WHERE id = ?").run([.int(version), .int(task)])
        }
    }
}
