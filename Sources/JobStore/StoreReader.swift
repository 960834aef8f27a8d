import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import Platform

/// The coordinator's database, read: jobs, tasks, units, results, banks, features, workers.
///
/// A reader opened with `init(readingAt:)` never migrates, never takes a write lock and never
/// creates a file, so `report --db`, `status --db` and `--compare-sequential` are safe on a live
/// coordinator's database and on read-only media. `StoreWriter` (the coordinator's single
/// writer) is a reader too: both answer queries through the same code and row mappings.
public class StoreReader {
    let db: SQLiteConnection

    init(connection: SQLiteConnection) {
        db = connection
    }

    /// Opens an existing database for reading only: no migration, no write lock, no file
    /// created, so `report --db` and `status --db` are safe on a live coordinator's database
    /// and work on read-only media. Refuses what is not a database file first, with a
    /// message that says what it is.
    public convenience init(readingAt path: String) throws(StoreError) {
        // Before SQLite opens it: a FIFO would block the open, a device never ends.
        do { try RegularFile.check(path) } catch {
            switch error.problem {
            case .missing: throw .database(path: path, message: "no such file")
            case .notRegular(kind: "a folder"): throw .database(path: path, message: "is a directory, not a database file")
            default: throw .database(path: path, message: error.reason)
            }
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        if size == 0 { throw .database(path: path, message: "is an empty file, not an adaneg database") }
        self.init(connection: try Self.openReadOnly(path))
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

    public var path: String { db.path }

    /// The first failure of the storage under the database (disk full, I/O error) this
    /// connection met, naming the database and the cause; nil while writes succeed.
    public var storageFailure: StoreError? { db.storageFailure }

    // MARK: Jobs and tasks

    private static let jobColumns = "id, name, spec_yaml, plan_json, created_at"

    private static func readJob(_ s: Statement) -> JobRecord {
        JobRecord(id: s.int(0), name: s.text(1) ?? "", specYAML: s.text(2) ?? "", planJSON: s.text(3) ?? "", createdAt: s.double(4))
    }

    private static let taskColumns = "id, job_id, ood_index, ood_name, ood_group, sample_count, bank_version"

    private static func readTask(_ s: Statement) -> TaskRecord {
        TaskRecord(id: s.int(0), job: s.int(1), oodIndex: Int(s.int(2)), oodName: s.text(3) ?? "",
                   oodGroup: s.text(4), sampleCount: Int(s.int(5)), bankVersion: s.int(6))
    }

    public func job(named name: String) throws(StoreError) -> JobRecord? {
        let s = try db.prepare("SELECT \(Self.jobColumns) FROM jobs WHERE name = ?")
        try s.bind([.text(name)])
        guard try s.step() else { return nil }
        return Self.readJob(s)
    }

    public func job(id: Int64) throws(StoreError) -> JobRecord? {
        let s = try db.prepare("SELECT \(Self.jobColumns) FROM jobs WHERE id = ?")
        try s.bind([.int(id)])
        guard try s.step() else { return nil }
        return Self.readJob(s)
    }

    public func jobs() throws(StoreError) -> [JobRecord] {
        let s = try db.prepare("SELECT \(Self.jobColumns) FROM jobs ORDER BY id")
        try s.bind([])
        var out = [JobRecord]()
        while try s.step() {
            out.append(Self.readJob(s))
        }
        return out
    }

    /// A job's work plan, decoded from the JSON stored with it at submission.
    public func plan(job id: Int64) throws(StoreError) -> WorkPlan {
        guard let record = try job(id: id) else { throw .unknownJob("#\(id)") }
        guard let plan = try? JSONDecoder().decode(WorkPlan.self, from: Data(record.planJSON.utf8)) else {
            throw .database(path: path, message: "job \(record.name) has an unreadable plan")
        }
        return plan
    }

    public func tasks(job: Int64) throws(StoreError) -> [TaskRecord] {
        let s = try db.prepare("SELECT \(Self.taskColumns) FROM tasks WHERE job_id = ? ORDER BY ood_index")
        try s.bind([.int(job)])
        var out = [TaskRecord]()
        while try s.step() {
            out.append(Self.readTask(s))
        }
        return out
    }

    private static let taskByID = "SELECT \(taskColumns) FROM tasks WHERE id = ?"

    public func task(id: Int64) throws(StoreError) -> TaskRecord? {
        try db.cached(Self.taskByID) { s throws(StoreError) -> TaskRecord? in
            try s.bind([.int(id)])
            return try s.step() ? Self.readTask(s) : nil
        }
    }

    // MARK: Workers and the file

    public func workers() throws(StoreError) -> [WorkerRecord] {
        let s = try db.prepare("SELECT id, host, last_seen, units_done, samples_done FROM workers ORDER BY id")
        try s.bind([])
        var out = [WorkerRecord]()
        while try s.step() {
            out.append(WorkerRecord(id: s.text(0) ?? "", host: s.text(1) ?? "", lastSeen: s.double(2), unitsDone: Int(s.int(3)), samplesDone: Int(s.int(4))))
        }
        return out
    }

    public func integrityCheck() throws(StoreError) -> String {
        let s = try db.prepare("PRAGMA integrity_check")
        try s.bind([])
        return try s.step() ? (s.text(0) ?? "") : ""
    }
}
