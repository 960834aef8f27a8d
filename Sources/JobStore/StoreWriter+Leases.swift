import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// Leases and their outcomes: lease, heartbeat, complete, fail, release, expire.
extension StoreWriter {
    /// Returns expired leases to `pending`; returns how many expired. With `parkAfter`, a unit
    /// that has been leased that many times is parked as `failed` instead: a unit whose
    /// workers keep dying on it (a trap, the OOM killer) would otherwise be leased forever.
    public func expireLeases(now: Double, parkAfter: Int? = nil) throws(StoreError) -> Int {
        var parked = 0
        if let parkAfter {
            try db.run("""
                UPDATE units SET state = 'failed', lease_owner = NULL, lease_expires = NULL,
                  last_error = 'its lease expired ' || attempts || ' times without a completion (its workers died, hung or lost the coordinator)'
                    || coalesce('; last error: ' || last_error, '')
                WHERE state = 'leased' AND lease_expires < ? AND attempts >= ?
                """, [.double(now), .int(Int64(parkAfter))])
            parked = db.changes
        }
        try db.run("UPDATE units SET state = 'pending', lease_owner = NULL, lease_expires = NULL WHERE state = 'leased' AND lease_expires < ?",
            [.double(now)])
        return parked + db.changes
    }

    /// Gives every current lease a fresh expiry: a restarted coordinator cannot tell a dead
    /// worker from one that was retrying while it was down, so each gets one lease period to
    /// check in before its unit goes to another worker (and the outage costs no attempt).
    public func renewLeases(expires: Double) throws(StoreError) -> Int {
        try db.run("UPDATE units SET lease_expires = ? WHERE state = 'leased'", [.double(expires)])
        return db.changes
    }

    /// Leases the next unit: the earliest pending unit (stream order) of a task no other worker
    /// is working on, else the earliest pending unit overall. Both keep each task's stream
    /// processed in order as far as the worker count allows.
    /// One transaction: record the worker, expire overdue leases, lease the next unit.
    public func leaseNext(worker: String, host: String, now: Double, expires: Double, parkAfter: Int? = nil) throws(StoreError) -> (unit: UnitRecord?, expired: Int) {
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
            var chosen = try db.cached("""
                SELECT (SELECT id FROM units p WHERE p.task_id = t.id AND p.state = 'pending' ORDER BY p.first_sample LIMIT 1) AS next
                FROM tasks t
                WHERE next IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM units l WHERE l.state = 'leased' AND l.task_id = t.id)
                ORDER BY t.id LIMIT 1
                """) { idle throws(StoreError) -> Int64? in
                try idle.bind([])
                return try idle.step() ? idle.int(0) : nil
            }
            if chosen == nil {
                chosen = try db.cached("SELECT id FROM units WHERE state = 'pending' ORDER BY task_id, first_sample LIMIT 1") { any throws(StoreError) -> Int64? in
                    try any.bind([])
                    return try any.step() ? any.int(0) : nil
                }
            }
            guard let id = chosen else { return nil }
            try db.run("UPDATE units SET state = 'leased', lease_owner = ?, lease_expires = ?, attempts = attempts + 1 WHERE id = ?",
                       [.text(worker), .double(expires), .int(id)])
            return try unit(id: id)
        }
    }

    /// Extends a lease the worker holds; false if it does not hold it.
    public func extendLease(unit: Int64, worker: String, expires: Double) throws(StoreError) -> Bool {
        try db.run("UPDATE units SET lease_expires = ? WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                   [.double(expires), .int(unit), .text(worker)])
        return db.changes == 1
    }

    /// Stores a unit's results and marks it done, in one transaction, if `worker` holds it.
    /// `features`: image features the worker computed for the unit, stored with the results.
    /// Returns false, storing nothing, when this very completion (worker and attempt) was stored
    /// already: a retried request whose first copy was still queued when the second was checked.
    @discardableResult
    public func complete(unit: UnitRecord, request: CompletionRequest, now: Double,
                  features: (model: String, entries: [(ref: String, vector: [Float]?, error: String?)])? = nil) throws(StoreError) -> Bool {
        let worker = request.worker
        let results = request.results
        return try db.transaction { () throws(StoreError) -> Bool in
            if let features { try storeFeatures(model: features.model, entries: features.entries) }
            try db.run("""
                UPDATE units SET state = 'done', lease_owner = NULL, lease_expires = NULL, completed_at = ?,
                       completed_by = ?, compute_seconds = ?, wait_seconds = ?, bank_id_rows = ?, bank_neg_rows = ?
                WHERE id = ? AND state = 'leased' AND lease_owner = ? AND attempts = ?
                """,
                [.double(now), .text(worker), .double(request.computeSeconds), .double(request.waitSeconds),
                      request.bank.map { .int(Int64($0.idRows)) } ?? .null, request.bank.map { .int(Int64($0.negativeRows)) } ?? .null,
                      .int(unit.id), .text(worker), .int(Int64(unit.attempts))])
            guard db.changes == 1 else {
                if let now = try self.unit(id: unit.id), now.state == .done, now.completion?.worker == worker, now.attempts == unit.attempts { return false }
                throw .notLeaseHolder(unit: unit.id, worker: worker)
            }
            try insertResults(task: unit.task, first: unit.firstSample, results)
            try db.run("UPDATE workers SET units_done = units_done + 1, samples_done = samples_done + ? WHERE id = ?",
                [.int(Int64(results.count)), .text(worker)])
            return true
        }
    }

    /// Rows per `INSERT` of a completion's results: one statement run per 64 rows instead of per
    /// row (9 × 64 = 576 parameters, under SQLite's oldest limit of 999).
    static let resultRowsPerInsert = 64

    static func resultInsert(rows: Int) -> String {
        "INSERT INTO results (task_id, position, pred, conf, conf_vanilla, mcm, adaptive, error, pred_static) VALUES "
            + repeatElement("(?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    private static let fullResultInsert = resultInsert(rows: resultRowsPerInsert)

    /// Inserts a unit's result rows (positions `first`…), straight from the wire's columns: a
    /// failed sample (its error set) stores its error and no scores.
    func insertResults(task: Int64, first: Int, _ results: UnitResults) throws(StoreError) {
        var start = 0
        while start < results.count {
            let rows = min(Self.resultRowsPerInsert, results.count - start)
            try db.cached(rows == Self.resultRowsPerInsert ? Self.fullResultInsert : Self.resultInsert(rows: rows)) { s throws(StoreError) in
                for r in 0..<rows {
                    let i = start + r, p = Int32(9 * r)
                    try s.bind(p + 1, int: task)
                    try s.bind(p + 2, int: Int64(first + i))
                    if let error = results.errors[i] {
                        for column in 3...7 { try s.bindNull(p + Int32(column)) }
                        try s.bind(p + 8, text: error)
                        try s.bindNull(p + 9)
                    } else {
                        try s.bind(p + 3, int: Int64(results.pred[i]))
                        try s.bind(p + 4, double: Double(results.conf[i]))
                        try s.bind(p + 5, double: Double(results.confVanilla[i]))
                        try s.bind(p + 6, double: Double(results.mcm[i]))
                        try s.bind(p + 7, double: Double(results.adaptive[i]))
                        try s.bindNull(p + 8)
                        // Older workers send no static prediction: AdaNeg's stands in (`UnitResults.samples`).
                        try s.bind(p + 9, int: Int64(results.predStatic?[i] ?? results.pred[i]))
                    }
                }
                try s.runBound()
            }
            start += rows
        }
    }

    /// Records a failure: the unit is parked as failed after `maxAttempts`, else returned to pending.
    public func fail(unit: Int64, worker: String, error: String, maxAttempts: Int) throws(StoreError) -> UnitState? {
        try db.transaction { () throws(StoreError) -> UnitState? in
            guard let u = try self.unit(id: unit), u.state == .leased, u.leaseOwner == worker else { return nil }
            let next: UnitState = u.attempts >= maxAttempts ? .failed : .pending
            try db.run("UPDATE units SET state = ?, lease_owner = NULL, lease_expires = NULL, last_error = ? WHERE id = ?",
                [.text(next.rawValue), .text(error), .int(unit)])
            return next
        }
    }

    /// Gives a lease back without counting an attempt (graceful worker shutdown).
    public func release(unit: Int64, worker: String) throws(StoreError) -> Bool {
        try db.run("UPDATE units SET state = 'pending', lease_owner = NULL, lease_expires = NULL, attempts = max(attempts - 1, 0) WHERE id = ? AND state = 'leased' AND lease_owner = ?",
            [.int(unit), .text(worker)])
        return db.changes == 1
    }
}
