import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// The coordinator's persistent state, written: one instance per coordinator, owned by the
/// `Coordinator` actor, so it is the database's single writer, and the database's lock
/// (`DatabaseLock`) keeps any other process from writing it meanwhile. Opening it creates or migrates
/// the database. Every multi-row change runs in one transaction, so a crash at any moment
/// leaves either the whole change or none of it.
public final class StoreWriter: StoreReader {
    /// This process's exclusive right to write the database (nil for `:memory:`), held as long
    /// as the writer lives.
    private let lock: DatabaseLock?

    /// Opens the database at `path` for writing, creating it or migrating it to the current
    /// schema first. Refuses, before writing or locking anything, a file that is not SQLite or
    /// is another program's database (it stays byte-identical); then takes the database's
    /// lock, so a second writer in another process fails at once with `.inUse` naming the
    /// holder (pid, host, command), while readers are never blocked.
    public init(path: String) throws(StoreError) {
        let connection = try SQLiteConnection(path: path)
        _ = try Schema.identify(connection)
        lock = path == ":memory:" ? nil : try DatabaseLock(databasePath: path)
        try Schema.prepare(connection)
        super.init(connection: connection)
    }

    /// Inserts a planned job in one transaction. `makePlan` receives the new job id.
    public func insertJob(name: String, specYAML: String, now: Double, makePlan: (Int64) throws(StoreError) -> String,
                   tasks: [PlannedTask], items: [(set: Int, refs: [String])] = []) throws(StoreError) -> Int64 {
        try db.transaction { () throws(StoreError) -> Int64 in
            try db.prepare("INSERT INTO jobs (name, spec_yaml, plan_json, created_at) VALUES (?, ?, '', ?)")
                .run([.text(name), .text(specYAML), .double(now)])
            let jobID = db.lastInsertRowID
            try db.prepare("UPDATE jobs SET plan_json = ? WHERE id = ?").run([.text(try makePlan(jobID)), .int(jobID)])
            for set in items { try insertItems(job: jobID, set: set.set, refs: set.refs) }
            let taskInsert = try db.prepare("INSERT INTO tasks (job_id, ood_index, ood_name, ood_group, sample_count) VALUES (?, ?, ?, ?, ?)")
            let sampleInsert = try db.prepare("INSERT INTO samples (task_id, position, set_index, item_index, label) VALUES (?, ?, ?, ?, ?)")
            let unitInsert = try db.prepare("INSERT INTO units (task_id, first_sample, sample_count) VALUES (?, ?, ?)")
            for task in tasks {
                try taskInsert.run([.int(jobID), .int(Int64(task.oodIndex)), .text(task.name), task.group.map { .text($0) } ?? .null,
                                    .int(Int64(task.samples.count))])
                let taskID = db.lastInsertRowID
                for (position, s) in task.samples.enumerated() {
                    try sampleInsert.run([.int(taskID), .int(Int64(position)), .int(Int64(s.set)), .int(Int64(s.item)), .int(Int64(s.label))])
                }
                for unit in task.units {
                    try unitInsert.run([.int(taskID), .int(Int64(unit.lowerBound)), .int(Int64(unit.count))])
                }
            }
            return jobID
        }
    }

    public func touchWorker(id: String, host: String, now: Double) throws(StoreError) {
        try db.run("INSERT INTO workers (id, host, last_seen) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, host = CASE WHEN excluded.host = '' THEN host ELSE excluded.host END",
                   [.text(id), .text(host), .double(now)])
    }
}
