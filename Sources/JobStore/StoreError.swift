import AdaNeg
/// Failures of the coordinator's store and job life cycle, each with a message a user can act on.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case database(path: String, message: String)
    case newerSchema(path: String, found: Int, supported: Int)
    case unknownJob(String)
    case unknownUnit(Int64)
    case unknownTask(Int64)
    case notLeaseHolder(unit: Int64, worker: String)
    case jobConflict(name: String)
    case invalidResults(unit: Int64, reason: String)
    case invalidJob([String])

    public var description: String {
        switch self {
        case let .database(path, message): "database \(path): \(message)"
        case let .newerSchema(path, found, supported):
            "database \(path) has schema version \(found); this adaneg supports up to \(supported): upgrade adaneg"
        case let .unknownJob(name): "no job named '\(name)'"
        case let .unknownUnit(id): "no unit \(id)"
        case let .unknownTask(id): "no task \(id)"
        case let .notLeaseHolder(unit, worker): "worker '\(worker)' does not hold the lease on unit \(unit)"
        case let .jobConflict(name):
            "a job named '\(name)' already exists with a different spec; choose another name"
        case let .invalidResults(unit, reason): "results for unit \(unit) rejected: \(reason)"
        case let .invalidJob(problems): "invalid job:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        }
    }
}
