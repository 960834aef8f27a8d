import AdaNeg
import Foundation

/// The coordinator's persistent state in one SQLite database (WAL).
///
/// One instance per coordinator, owned by the `Coordinator` actor: it is the single writer.
/// Every multi-row change runs in one transaction, so a crash at any moment leaves either the
/// whole change or none of it.
final class SQLiteStore {
    let db: SQLiteConnection

    init(path: String) throws(StoreError) {
        db = try SQLiteConnection(path: path)
        try Schema.prepare(db)
    }

    /// Opens an existing database for reading only: no migration, no write lock, no file
    /// created, so `report --db` and `status --db` are safe on a live coordinator's database
    /// and work on read-only media. Refuses what is not a database file first, with a
    /// message that says what it is.
    init(readingAt path: String) throws(StoreError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .database(path: path, message: "no such file")
        }
        if isDirectory.boolValue { throw .database(path: path, message: "is a directory, not a database file") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        if size == 0 { throw .database(path: path, message: "is an empty file, not an adaneg database") }
        db = try Self.openReadOnly(path)
    }

    private static func openReadOnly(_ path: String) throws(StoreError) -> SQLiteConnection {
        // No `-wal` file: no coordinator has the database open (it keeps one while it runs),
        // so the file is read as immutable: no `-shm`/`-wal` is created next to it, which also
        // makes read-only media work. With a `-wal`, a normal read-only connection sees the
        // live coordinator's committed writes and takes only a read lock.
        if !FileManager.default.fileExists(atPath: path + "-wal") {
            let db = try SQLiteConnection(path: path, readOnly: true, immutable: true)
            try Schema.checkReadable(db)
            return db
        }
        do {
            let db = try SQLiteConnection(path: path, readOnly: true)
            try Schema.checkReadable(db)
            return db
        } catch {
            // A WAL database in a directory we cannot write (read-only media) cannot get
            // its `-shm` file; nothing can be writing to it there, so read it as immutable.
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard case let .database(_, message) = error,
                  !FileManager.default.isWritableFile(atPath: directory) || message.contains("unable to open")
            else { throw error }
            let db = try SQLiteConnection(path: path, readOnly: true, immutable: true)
            try Schema.checkReadable(db)
            return db
        }
    }

    var path: String { db.path }

    // MARK: Jobs and planning

    func job(named name: String) throws(StoreError) -> JobRecord? {
        let s = try db.prepare("SELECT id, name, spec_yaml, plan_json, created_at FROM jobs WHERE name = ?")
        try s.bind([.text(name)])
        guard try s.step() else { return nil }
        return JobRecord(id: s.int(0), name: s.text(1) ?? "", specYAML: s.text(2) ?? "", planJSON: s.text(3) ?? "", createdAt: s.double(4))
    }

    func job(id: Int64) throws(StoreError) -> JobRecord? {
        let s = try db.prepare("SELECT id, name, spec_yaml, plan_json, created_at FROM jobs WHERE id = ?")
        try s.bind([.int(id)])
        guard try s.step() else { return nil }
        return JobRecord(id: s.int(0), name: s.text(1) ?? "", specYAML: s.text(2) ?? "", planJSON: s.text(3) ?? "", createdAt: s.double(4))
    }

    func jobs() throws(StoreError) -> [JobRecord] {
        let s = try db.prepare("SELECT id, name, spec_yaml, plan_json, created_at FROM jobs ORDER BY id")
        try s.bind([])
        var out = [JobRecord]()
        while try s.step() {
            out.append(JobRecord(id: s.int(0), name: s.text(1) ?? "", specYAML: s.text(2) ?? "", planJSON: s.text(3) ?? "", createdAt: s.double(4)))
        }
        return out
    }

    /// Inserts a planned job in one transaction. `makePlan` receives the new job id.
    func insertJob(name: String, specYAML: String, now: Double, makePlan: (Int64) throws(StoreError) -> String,
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

    func tasks(job: Int64) throws(StoreError) -> [TaskRecord] {
        let s = try db.prepare("SELECT id, job_id, ood_index, ood_name, ood_group, sample_count, bank_version FROM tasks WHERE job_id = ? ORDER BY ood_index")
        try s.bind([.int(job)])
        var out = [TaskRecord]()
        while try s.step() {
            out.append(TaskRecord(id: s.int(0), job: s.int(1), oodIndex: Int(s.int(2)), oodName: s.text(3) ?? "",
                                  oodGroup: s.text(4), sampleCount: Int(s.int(5)), bankVersion: s.int(6)))
        }
        return out
    }

    func task(id: Int64) throws(StoreError) -> TaskRecord? {
        let s = try db.prepare("SELECT id, job_id, ood_index, ood_name, ood_group, sample_count, bank_version FROM tasks WHERE id = ?")
        try s.bind([.int(id)])
        guard try s.step() else { return nil }
        return TaskRecord(id: s.int(0), job: s.int(1), oodIndex: Int(s.int(2)), oodName: s.text(3) ?? "",
                          oodGroup: s.text(4), sampleCount: Int(s.int(5)), bankVersion: s.int(6))
    }

    // MARK: Units and leases

    private static let unitColumns = "id, task_id, first_sample, sample_count, state, attempts, lease_owner, lease_expires, last_error, completed_at, completed_by, compute_seconds, wait_seconds, bank_id_rows, bank_neg_rows"

    private func readUnit(_ s: Statement) -> UnitRecord {
        UnitRecord(id: s.int(0), task: s.int(1), firstSample: Int(s.int(2)), sampleCount: Int(s.int(3)),
                   state: UnitState(rawValue: s.text(4) ?? "") ?? .pending, attempts: Int(s.int(5)),
                   leaseOwner: s.text(6), leaseExpires: s.isNull(7) ? nil : s.double(7), lastError: s.text(8),
                   completedAt: s.isNull(9) ? nil : s.double(9),
                   completion: s.text(10).map { worker in
                       UnitCompletion(worker: worker, computeSeconds: s.double(11), waitSeconds: s.double(12),
                                      bank: s.isNull(13) ? nil : BankOccupancy(idRows: Int(s.int(13)), negativeRows: Int(s.int(14))))
                   })
    }

    func unit(id: Int64) throws(StoreError) -> UnitRecord? {
        let s = try db.prepare("SELECT \(Self.unitColumns) FROM units WHERE id = ?")
        try s.bind([.int(id)])
        return try s.step() ? readUnit(s) : nil
    }

    func units(task: Int64) throws(StoreError) -> [UnitRecord] {
        let s = try db.prepare("SELECT \(Self.unitColumns) FROM units WHERE task_id = ? ORDER BY first_sample")
        try s.bind([.int(task)])
        var out = [UnitRecord]()
        while try s.step() { out.append(readUnit(s)) }
        return out
    }

    /// Returns expired leases to `pending`; returns how many expired. With `parkAfter`, a unit
    /// that has been leased that many times is parked as `failed` instead: a unit whose
    /// workers keep dying on it (a trap, the OOM killer) would otherwise be leased forever.
    func expireLeases(now: Double, parkAfter: Int? = nil) throws(StoreError) -> Int {
        var parked = 0
        if let parkAfter {
            try db.prepare("""
                UPDATE units SET state = 'failed', lease_owner = NULL, lease_expires = NULL,
                  last_error = 'its lease expired ' || attempts || ' times without a completion (its workers died, hung or lost the coordinator)'
                    || coalesce('; last error: ' || last_error, '')
                WHERE state = 'leased' AND lease_expires < ? AND attempts >= ?
                """).run([.double(now), .int(Int64(parkAfter))])
            parked = db.changes
        }
        try db.prepare("UPDATE units SET state = 'pending', lease_owner = NULL, lease_expires = NULL WHERE state = 'leased' AND lease_expires < ?")
            .run([.double(now)])
        return parked + db.changes
    }

    /// Units a worker holds right now.
    func leasedUnits(worker: String) throws(StoreError) -> [UnitRecord] {
        let s = try db.prepare("SELECT \(Self.unitColumns) FROM units WHERE state = 'leased' AND lease_owner = ? ORDER BY id")
        try s.bind([.text(worker)])
        var out = [UnitRecord]()
        while try s.step() { out.append(readUnit(s)) }
        return out
    }

    /// Gives every current lease a fresh expiry: a restarted coordinator cannot tell a dead
    /// worker from one that was retrying while it was down, so each gets one lease period to
    /// check in before its unit goes to another worker (and the outage costs no attempt).
    func renewLeases(expires: Double) throws(StoreError) -> Int {
        try db.prepare("UPDATE units SET lease_expires = ? WHERE state = 'leased'").run([.double(expires)])
        return db.changes
    }

    /// Leases the next unit: the earliest pending unit (stream order) of a task no other worker
    /// is working on, else the earliest pending unit overall. Both keep each task's stream
    /// processed in order as far as the worker count allows.
    /// One transaction: record the worker, expire overdue leases, lease the next unit.
    func leaseNext(worker: String, host: String, now: Double, expires: Double, parkAfter: Int? = nil) throws(StoreError) -> (unit: UnitRecord?, expired: Int) {
        try db.transaction { () throws(StoreError) -> (unit: UnitRecord?, expired: Int) in
            try touchWorker(id: worker, host: host, now: now)
            let expired = try expireLeases(now: now, parkAfter: parkAfter)
            return (try leaseNextInTransaction(worker: worker, expires: expires), expired)
        }
    }

    private func leaseNextInTransaction(worker: String, expires: Double) throws(StoreError) -> UnitRecord? {
        do {
            // Per task, not per unit: both subqueries are index lookups on (state, task_id,
            // first_sample), so a lease costs the same with 10 or 100,000 pending units.
            let idle = try db.prepare("""
                SELECT (SELECT id FROM units p WHERE p.task_id = t.id AND p.state = 'pending' ORDER BY p.first_sample LIMIT 1) AS next
                FROM tasks t
                WHERE next IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM units l WHERE l.state = 'leased' AND l.task_id = t.id)
                ORDER BY t.id LIMIT 1
                """)
            try idle.bind([])
            var chosen: Int64?
            if try idle.step() { chosen = idle.int(0) }
            if chosen == nil {
                let any = try db.prepare("SELECT id FROM units WHERE state = 'pending' ORDER BY task_id, first_sample LIMIT 1")
                try any.bind([])
                if try any.step() { chosen = any.int(0) }
            }
            guard let id = chosen else { return nil }
            try db.prepare("UPDATE units SET state = 'leased', lease_owner = ?, lease_expires = ?, attempts = attempts + 1 WHERE id = ?")
                .run([.text(worker), .double(expires), .int(id)])
            return try unit(id: id)
        }
    }

    /// Extends a lease the worker holds; false if it does not hold it.
    func extendLease(unit: Int64, worker: String, expires: Double) throws(StoreError) -> Bool {
        try db.prepare("UPDATE units SET lease_expires = ? WHERE id = ? AND state = 'leased' AND lease_owner = ?")
            .run([.double(expires), .int(unit), .text(worker)])
        return db.changes == 1
    }

    /// Stores a unit's results and marks it done, in one transaction, if `worker` holds it.
    /// `features`: image features the worker computed for the unit, stored with the results.
    func complete(unit: UnitRecord, request: CompletionRequest, now: Double,
                  features: (model: String, entries: [(ref: String, vector: [Float]?, error: String?)])? = nil) throws(StoreError) {
        let worker = request.worker
        let results = request.results
        try db.transaction { () throws(StoreError) in
            if let features { try storeFeatures(model: features.model, entries: features.entries) }
            try db.prepare("""
                UPDATE units SET state = 'done', lease_owner = NULL, lease_expires = NULL, completed_at = ?,
                       completed_by = ?, compute_seconds = ?, wait_seconds = ?, bank_id_rows = ?, bank_neg_rows = ?
                WHERE id = ? AND state = 'leased' AND lease_owner = ? AND attempts = ?
                """)
                .run([.double(now), .text(worker), .double(request.computeSeconds), .double(request.waitSeconds),
                      request.bank.map { .int(Int64($0.idRows)) } ?? .null, request.bank.map { .int(Int64($0.negativeRows)) } ?? .null,
                      .int(unit.id), .text(worker), .int(Int64(unit.attempts))])
            guard db.changes == 1 else { throw .notLeaseHolder(unit: unit.id, worker: worker) }
            let insert = try db.prepare("INSERT INTO results (task_id, position, pred, conf, conf_vanilla, mcm, adaptive, error, pred_static) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            for i in 0..<results.count {
                let position = Int64(unit.firstSample + i)
                if let error = results.errors[i] {
                    try insert.run([.int(unit.task), .int(position), .null, .null, .null, .null, .null, .text(error), .null])
                } else {
                    try insert.run([.int(unit.task), .int(position), .int(Int64(results.pred[i])), .double(Double(results.conf[i])),
                                    .double(Double(results.confVanilla[i])), .double(Double(results.mcm[i])),
                                    .double(Double(results.adaptive[i])), .null, results.predStatic.map { .int(Int64($0[i])) } ?? .null])
                }
            }
            try db.prepare("UPDATE workers SET units_done = units_done + 1, samples_done = samples_done + ? WHERE id = ?")
                .run([.int(Int64(results.count)), .text(worker)])
        }
    }

    /// Records a failure: the unit is parked as failed after `maxAttempts`, else returned to pending.
    func fail(unit: Int64, worker: String, error: String, maxAttempts: Int) throws(StoreError) -> UnitState? {
        try db.transaction { () throws(StoreError) -> UnitState? in
            guard let u = try self.unit(id: unit), u.state == .leased, u.leaseOwner == worker else { return nil }
            let next: UnitState = u.attempts >= maxAttempts ? .failed : .pending
            try db.prepare("UPDATE units SET state = ?, lease_owner = NULL, lease_expires = NULL, last_error = ? WHERE id = ?")
                .run([.text(next.rawValue), .text(error), .int(unit)])
            return next
        }
    }

    /// Gives a lease back without counting an attempt (graceful worker shutdown).
    func release(unit: Int64, worker: String) throws(StoreError) -> Bool {
        try db.prepare("UPDATE units SET state = 'pending', lease_owner = NULL, lease_expires = NULL, attempts = max(attempts - 1, 0) WHERE id = ? AND state = 'leased' AND lease_owner = ?")
            .run([.int(unit), .text(worker)])
        return db.changes == 1
    }

    func unitCounts(job: Int64?) throws(StoreError) -> UnitCounts {
        let sql = job == nil
            ? "SELECT state, count(*) FROM units GROUP BY state"
            : "SELECT u.state, count(*) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? GROUP BY u.state"
        let s = try db.prepare(sql)
        try s.bind(job.map { [.int($0)] } ?? [])
        var counts = UnitCounts()
        while try s.step() {
            if let state = UnitState(rawValue: s.text(0) ?? "") { counts[state] = Int(s.int(1)) }
        }
        return counts
    }

    func failedUnits(job: Int64) throws(StoreError) -> [UnitRecord] {
        let s = try db.prepare("SELECT \(Self.unitColumns.split(separator: ",").map { "u." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state = 'failed' ORDER BY u.id")
        try s.bind([.int(job)])
        var out = [UnitRecord]()
        while try s.step() { out.append(readUnit(s)) }
        return out
    }

    // MARK: Samples and results

    func samples(task: Int64, first: Int, count: Int) throws(StoreError) -> (sets: [Int], items: [Int], labels: [Int]) {
        let s = try db.prepare("SELECT set_index, item_index, label FROM samples WHERE task_id = ? AND position >= ? AND position < ? ORDER BY position")
        try s.bind([.int(task), .int(Int64(first)), .int(Int64(first + count))])
        var sets = [Int](), items = [Int](), labels = [Int]()
        sets.reserveCapacity(count); items.reserveCapacity(count); labels.reserveCapacity(count)
        while try s.step() {
            sets.append(Int(s.int(0))); items.append(Int(s.int(1))); labels.append(Int(s.int(2)))
        }
        return (sets, items, labels)
    }

    /// The whole stream of a task: per position, set index, item index and label.
    func stream(task: Int64) throws(StoreError) -> (sets: [Int], items: [Int], labels: [Int]) {
        guard let t = try self.task(id: task) else { throw .unknownTask(task) }
        return try samples(task: task, first: 0, count: t.sampleCount)
    }

    /// Every result of a task with its label, in stream order.
    func results(task: Int64) throws(StoreError) -> [ResultRecord] {
        let s = try db.prepare("""
            SELECT s.position, s.label, r.pred, r.conf, r.conf_vanilla, r.mcm, r.adaptive, r.error, r.pred_static
            FROM results r JOIN samples s ON s.task_id = r.task_id AND s.position = r.position
            WHERE r.task_id = ? ORDER BY r.position
            """)
        try s.bind([.int(task)])
        var out = [ResultRecord]()
        while try s.step() {
            func f(_ c: Int32) -> Float? { s.isNull(c) ? nil : Float(s.double(c)) }
            out.append(ResultRecord(position: Int(s.int(0)), label: Int(s.int(1)), pred: s.isNull(2) ? nil : Int(s.int(2)),
                                    conf: f(3), confVanilla: f(4), mcm: f(5), adaptive: f(6), error: s.text(7),
                                    predStatic: s.isNull(8) ? nil : Int(s.int(8))))
        }
        return out
    }

    func resultCount(job: Int64) throws(StoreError) -> Int {
        Int(try db.scalar("SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ?", [.int(job)]) ?? 0)
    }

    // MARK: Memory banks

    /// A stored bank entry: everything but the feature (see `schema.sql`).
    struct StoredBankEntry {
        var row: Int
        var key: BankKey
        var version: Int64
    }

    /// All stored entries of a task's bank, in acceptance order.
    func bankEntries(task: Int64) throws(StoreError) -> [StoredBankEntry] {
        let q = try db.prepare("SELECT row, priority, position, version FROM bank_entries WHERE task_id = ? ORDER BY version, position")
        try q.bind([.int(task)])
        var out = [StoredBankEntry]()
        while try q.step() {
            out.append(StoredBankEntry(row: Int(q.int(0)), key: BankKey(primary: Float(q.double(1)), position: Int(q.int(2))), version: q.int(3)))
        }
        return out
    }

    /// Persists one merge: accepted entries in, evicted entries out, the new version, atomically.
    /// `features`: for image jobs, the accepted entries' features stored per image, so a
    /// restarted coordinator can rebuild the bank before those units complete.
    func applyBankMerge(task: Int64, accepted: [BankEntry], evicted: [(row: Int, position: Int)], version: Int64,
                        features: (model: String, job: Int64)? = nil) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            if let features {
                let refs = try refs(task: task, job: features.job, positions: accepted.map(\.key.position))
                let entries = zip(refs, accepted).compactMap { ref, e in ref.map { (ref: $0, vector: Optional(e.feature), error: String?.none) } }
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

    // MARK: Workers

    func touchWorker(id: String, host: String, now: Double) throws(StoreError) {
        try db.prepare("INSERT INTO workers (id, host, last_seen) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, host = CASE WHEN excluded.host = '' THEN host ELSE excluded.host END")
            .run([.text(id), .text(host), .double(now)])
    }

    func workers() throws(StoreError) -> [WorkerRecord] {
        let s = try db.prepare("SELECT id, host, last_seen, units_done, samples_done FROM workers ORDER BY id")
        try s.bind([])
        var out = [WorkerRecord]()
        while try s.step() {
            out.append(WorkerRecord(id: s.text(0) ?? "", host: s.text(1) ?? "", lastSeen: s.double(2), unitsDone: Int(s.int(3)), samplesDone: Int(s.int(4))))
        }
        return out
    }

    func integrityCheck() throws(StoreError) -> String {
        let s = try db.prepare("PRAGMA integrity_check")
        try s.bind([])
        return try s.step() ? (s.text(0) ?? "") : ""
    }
}

/// A task as planned, before it is stored.
struct PlannedTask: Sendable {
    var oodIndex: Int
    var name: String
    var group: String?
    var samples: [(set: Int, item: Int, label: Int)]
    var units: [Range<Int>]
}
