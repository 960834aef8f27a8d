import Foundation
import JobProtocol

/// A fleet sweep's unit as stored (`sweep_units`).
public struct SweepUnitRecord: Sendable, Equatable {
    public var id: Int64
    public var sweep: String
    public var task: Int64
    /// JSON array of the points' `ScoringParameters`.
    public var points: String
    public var pointCount: Int
    public var state: UnitState
    public var attempts: Int
    public var leaseOwner: String?
    public var leaseExpires: Double?
    public var lastError: String?
}

/// Fleet sweeps (`sweep --coordinator`): grids and their units of (task, points), leased to
/// workers like job units. A done unit's sets go to `sweep_sets`, the resume format `sweep --db`
/// reads too; the job's own rows are never touched.
extension StoreReader {
    /// A sweep's job and its points (JSON), or nil.
    public func sweep(id: String) throws(StoreError) -> (job: Int64, points: String)? {
        let s = try db.prepare("SELECT job_id, points FROM sweeps WHERE id = ?")
        try s.bind([.text(id)])
        guard try s.step(), let points = s.text(1) else { return nil }
        return (s.int(0), points)
    }

    public func sweepUnit(id: Int64) throws(StoreError) -> SweepUnitRecord? {
        let s = try db.prepare("SELECT \(Self.sweepUnitColumns) FROM sweep_units WHERE id = ?")
        try s.bind([.int(id)])
        return try s.step() ? Self.sweepUnit(s) : nil
    }

    /// A sweep's units by state, the point-tasks of its done units and of all its units, and
    /// each failed unit's last error.
    public func sweepProgress(id: String) throws(StoreError) -> (units: SweepUnitCounts, done: Int, total: Int, failures: [String]) {
        let s = try db.prepare("SELECT state, count(*), sum(point_count) FROM sweep_units WHERE sweep_id = ? GROUP BY state")
        try s.bind([.text(id)])
        var counts = SweepUnitCounts(), done = 0, total = 0
        while try s.step() {
            let n = Int(s.int(1)), points = Int(s.int(2))
            total += points
            switch s.text(0) {
            case "pending": counts.pending = n
            case "leased": counts.leased = n
            case "done": counts.done = n; done = points
            default: counts.failed += n
            }
        }
        let f = try db.prepare("SELECT id, task_id, last_error FROM sweep_units WHERE sweep_id = ? AND state = 'failed' ORDER BY id LIMIT 20")
        try f.bind([.text(id)])
        var failures = [String]()
        while try f.step() { failures.append("unit \(f.int(0)) (task \(f.int(1))): \(f.text(2) ?? "failed")") }
        return (counts, done, total, failures)
    }

    static let sweepUnitColumns = "id, sweep_id, task_id, points, point_count, state, attempts, lease_owner, lease_expires, last_error"

    static func sweepUnit(_ s: Statement) -> SweepUnitRecord {
        SweepUnitRecord(id: s.int(0), sweep: s.text(1) ?? "", task: s.int(2), points: s.text(3) ?? "[]", pointCount: Int(s.int(4)),
                        state: UnitState(rawValue: s.text(5) ?? "") ?? .failed, attempts: Int(s.int(6)), leaseOwner: s.text(7),
                        leaseExpires: s.isNull(8) ? nil : s.double(8), lastError: s.text(9))
    }
}

extension StoreWriter {
    /// Stores a sweep and its units, unless a sweep with this id exists (then nothing is
    /// written: submitting the same grid again resumes it). Returns whether it was created.
    public func createSweep(id: String, job: Int64, points: String, units: [(task: Int64, points: String, count: Int)],
                            now: Double) throws(StoreError) -> Bool {
        try db.transaction { () throws(StoreError) -> Bool in
            if try sweep(id: id) != nil { return false }
            try db.prepare("INSERT INTO sweeps (id, job_id, points, created_at) VALUES (?, ?, ?, ?)")
                .run([.text(id), .int(job), .text(points), .double(now)])
            let insert = try db.prepare("INSERT INTO sweep_units (sweep_id, task_id, points, point_count) VALUES (?, ?, ?, ?)")
            for u in units { try insert.run([.text(id), .int(u.task), .text(u.points), .int(Int64(u.count))]) }
            return true
        }
    }

    /// Puts a sweep's failed units back to pending with their attempts reset (the same grid
    /// submitted again after its cause was fixed); returns how many.
    public func retryFailedSweepUnits(sweep id: String) throws(StoreError) -> Int {
        try db.prepare("UPDATE sweep_units SET state = 'pending', attempts = 0, lease_owner = NULL, last_error = NULL WHERE sweep_id = ? AND state = 'failed'")
            .run([.text(id)])
        return db.changes
    }

    /// Leases the next pending sweep unit (the oldest first). Leases that expired first go back
    /// to pending, or are parked as failed once they used `maxAttempts` attempts (their workers
    /// died on them). Returns the unit with its new attempt number, and how many expired.
    public func leaseSweepUnit(worker: String, now: Double, expires: Double, maxAttempts: Int) throws(StoreError) -> (SweepUnitRecord?, expired: Int) {
        try db.transaction { () throws(StoreError) -> (SweepUnitRecord?, expired: Int) in
            try db.prepare("""
                UPDATE sweep_units SET state = 'failed', lease_owner = NULL,
                    last_error = 'the lease expired on each of ' || attempts || ' attempts (its workers stopped or died on it)'
                WHERE state = 'leased' AND lease_expires < ? AND attempts >= ?
                """).run([.double(now), .int(Int64(maxAttempts))])
            var expired = db.changes
            try db.prepare("UPDATE sweep_units SET state = 'pending', lease_owner = NULL WHERE state = 'leased' AND lease_expires < ?")
                .run([.double(now)])
            expired += db.changes
            let next = try db.prepare("SELECT id FROM sweep_units WHERE state = 'pending' ORDER BY id LIMIT 1")
            guard try next.step() else { return (nil, expired) }
            let id = next.int(0)
            try db.prepare("UPDATE sweep_units SET state = 'leased', attempts = attempts + 1, lease_owner = ?, lease_expires = ? WHERE id = ?")
                .run([.text(worker), .double(expires), .int(id)])
            return (try sweepUnit(id: id), expired)
        }
    }

    /// Extends a sweep unit's lease when `worker` holds it under `attempt`.
    public func extendSweepLease(unit: Int64, worker: String, attempt: Int, expires: Double) throws(StoreError) -> Bool {
        try db.prepare("UPDATE sweep_units SET lease_expires = ? WHERE id = ? AND state = 'leased' AND lease_owner = ? AND attempts = ?")
            .run([.double(expires), .int(unit), .text(worker), .int(Int64(attempt))])
        return db.changes == 1
    }

    /// Stores a leased unit's sets (one per point, for its task) and marks it done, in one
    /// transaction. A unit done already is a duplicate (false, nothing written); a worker that
    /// does not hold the lease under `attempt` is refused.
    public func completeSweepUnit(_ unit: SweepUnitRecord, job: Int64, worker: String, attempt: Int,
                                  sets: [(point: String, result: String)], now: Double) throws(StoreError) -> Bool {
        try db.transaction { () throws(StoreError) -> Bool in
            guard let current = try sweepUnit(id: unit.id) else { throw .unknownUnit(unit.id) }
            if current.state == .done { return false }
            guard current.state == .leased, current.leaseOwner == worker, current.attempts == attempt else {
                throw .notLeaseHolder(unit: unit.id, worker: worker)
            }
            let insert = try db.prepare("INSERT OR REPLACE INTO sweep_sets (job_id, point, task_id, result, created_at) VALUES (?, ?, ?, ?, ?)")
            for set in sets { try insert.run([.int(job), .text(set.point), .int(current.task), .text(set.result), .double(now)]) }
            try db.prepare("UPDATE sweep_units SET state = 'done', lease_owner = NULL, completed_at = ? WHERE id = ?")
                .run([.double(now), .int(unit.id)])
            return true
        }
    }

    /// A sweep unit failed on its holder: back to pending, or parked as failed after
    /// `maxAttempts`. Nil when `worker` does not hold it under `attempt`.
    public func failSweepUnit(_ unit: Int64, worker: String, attempt: Int, error: String, maxAttempts: Int) throws(StoreError) -> UnitState? {
        try db.transaction { () throws(StoreError) -> UnitState? in
            guard let current = try sweepUnit(id: unit), current.state == .leased, current.leaseOwner == worker, current.attempts == attempt else {
                return nil
            }
            let state: UnitState = current.attempts >= maxAttempts ? .failed : .pending
            try db.prepare("UPDATE sweep_units SET state = ?, lease_owner = NULL, last_error = ? WHERE id = ?")
                .run([.text(state.rawValue), .text(error), .int(unit)])
            return state
        }
    }
}
