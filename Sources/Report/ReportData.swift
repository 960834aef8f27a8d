import AdaNeg
import Foundation
import JobPlan
import JobProtocol
import JobStore
import Platform

/// Everything a report is computed from: the job, its plan, and each task's stored results.
/// Gathered from a database (`ReportLoader`) or from a coordinator over HTTP (the CLI), or built
/// by hand in tests.
public struct ReportData: Sendable {
    public var jobName: String
    public var jobID: Int64
    /// Seconds since 1970; nil when the source does not say (the HTTP API).
    public var createdAt: Double?
    /// The canonical job spec; nil when the source does not serve it (the HTTP API).
    public var specYAML: String?
    public var plan: WorkPlan
    public var tasks: [TaskData]
    /// Unit counts over the whole job.
    public var units: UnitCounts
    public var failedUnits: [FailedUnit]
    public var workers: [WorkerRecord]
    /// Where the data came from, for the report's header ("database x.sqlite", a URL).
    public var source: String

    public init(jobName: String, jobID: Int64, createdAt: Double?, specYAML: String?, plan: WorkPlan, tasks: [TaskData],
                units: UnitCounts, failedUnits: [FailedUnit], workers: [WorkerRecord], source: String) {
        self.jobName = jobName
        self.jobID = jobID
        self.createdAt = createdAt
        self.specYAML = specYAML
        self.plan = plan
        self.tasks = tasks
        self.units = units
        self.failedUnits = failedUnits
        self.workers = workers
        self.source = source
    }
}

/// One task (the ID set against one OOD set) and its stored results.
public struct TaskData: Sendable {
    public var task: TaskRecord
    /// Stored result rows, in stream order; positions without a row are not scored yet.
    public var results: [ResultRecord]
    /// The task's units, when the source gives them (a database): per-set progress and
    /// completion times.
    public var units: [UnitRecord]?

    public init(task: TaskRecord, results: [ResultRecord], units: [UnitRecord]? = nil) {
        self.task = task
        self.results = results
        self.units = units
    }
}

/// Why a report could not be made, worded for the user.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    case missingDatabase(String)
    case store(String)
    case unknownJob(name: String, known: [String])
    /// `--out` refused or not writable (OutputTarget's policy).
    case output(OutputError)
    case source(String)

    public var description: String {
        switch self {
        case let .missingDatabase(path):
            // A folder is not "missing", but it is no database either: say what it is.
            Self.isDirectory(path) ? "\(path): is a directory, not a database file" : "\(path): no such database"
        case let .store(message): message
        case let .unknownJob(name, known):
            "no job named '\(name)'" + (known.isEmpty ? " (the database holds no jobs)" : " (jobs: \(known.joined(separator: ", ")))")
        case let .output(error): error.description
        case let .source(message): message
        }
    }
}

/// Reads a job's report data from a coordinator's SQLite database, read-only.
public enum ReportLoader {
    /// Opens the database read-for-report: refuses a missing file (rather than creating an
    /// empty database) and a database from a newer schema version.
    public static func load(databasePath path: String, job name: String) throws(ReportError) -> ReportData {
        try load(store: try open(databasePath: path), job: name, source: "database \(path)")
    }

    /// The database opened read-only (for `load` and `SequentialRescore`): no migration, no
    /// write lock, never a file created.
    public static func open(databasePath path: String) throws(ReportError) -> StoreReader {
        guard FileManager.default.fileExists(atPath: path), !ReportError.isDirectory(path) else { throw .missingDatabase(path) }
        do {
            return try StoreReader(readingAt: path)
        } catch {
            throw .store(error.description)
        }
    }

    public static func load(store: StoreReader, job name: String, source: String) throws(ReportError) -> ReportData {
        do {
            return try gather(store, job: name, source: source)
        } catch let e as ReportError {
            throw e
        } catch let e as StoreError {
            throw .store(e.description)
        } catch {
            throw .store("\(error)")
        }
    }

    private static func gather(_ store: StoreReader, job name: String, source: String) throws -> ReportData {
        guard let job = try store.job(named: name) else {
            throw ReportError.unknownJob(name: name, known: try store.jobs().map(\.name))
        }
        let plan = try store.plan(job: job.id)
        let status = try store.status(job: name, now: Date().timeIntervalSince1970, expiredLeases: 0)
        var tasks = [TaskData]()
        for t in try store.tasks(job: job.id).sorted(by: { $0.oodIndex < $1.oodIndex }) {
            tasks.append(TaskData(task: t, results: try store.results(task: t.id), units: try store.units(task: t.id)))
        }
        return ReportData(jobName: job.name, jobID: job.id, createdAt: job.createdAt, specYAML: job.specYAML, plan: plan,
                          tasks: tasks, units: status.units, failedUnits: status.failed, workers: status.workers, source: source)
    }
}
