import AdaNegCore
/// Failures of the coordinator's store and job life cycle, each with a message a user can act on.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case database(path: String, message: String)
    case newerSchema(path: String, found: Int, supported: Int)
    /// Another process writes the database (nil: it has not said who it is).
    case inUse(path: String, owner: DatabaseOwner?)
    /// An SQLite database with tables but no adaneg schema: another program's, never written.
    case foreign(path: String)
    case unknownJob(String)
    case unknownUnit(Int64)
    case unknownTask(Int64)
    case notLeaseHolder(unit: Int64, worker: String)
    case jobConflict(name: String)
    case invalidResults(unit: Int64, reason: String)
    case invalidJob([String])
    /// A file the job read at submission holds other content now (or cannot be read): the
    /// message names it and says what could not be done.
    case inputChanged(String)

    public var description: String {
        switch self {
        case let .database(path, message): "database \(path): \(message)"
        case let .newerSchema(path, found, supported):
            "database \(path) has schema version \(found); this adaneg supports up to \(supported): upgrade adaneg"
        case let .inUse(path, owner):
            "database \(path) is in use by another adaneg process (\(owner.map(\.description) ?? "its pid is not recorded yet"))"
                + "; one coordinator writes a database at a time: stop that process or use another --db "
                + "(`adaneg status --db` and `adaneg report --db` can read it meanwhile)"
        case let .foreign(path):
            "database \(path): an SQLite database, but not an adaneg one (it has tables and no schema_version table); "
                + "adaneg does not write another program's database: give a new file or an adaneg database"
        case let .unknownJob(name): "no job named '\(name)'"
        case let .unknownUnit(id): "no unit \(id)"
        case let .unknownTask(id): "no task \(id)"
        case let .notLeaseHolder(unit, worker): "worker '\(worker)' does not hold the lease on unit \(unit)"
        case let .jobConflict(name):
            "a job named '\(name)' already exists with a different spec; choose another name"
        case let .invalidResults(unit, reason): "results for unit \(unit) rejected: \(reason)"
        case let .invalidJob(problems): "invalid job:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        case let .inputChanged(message): message
        }
    }
}
