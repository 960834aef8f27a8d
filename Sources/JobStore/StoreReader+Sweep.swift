import Foundation

/// The finished points of `adaneg sweep`, stored per job so that an interrupted sweep run again
/// resumes: a point is keyed by every parameter's value (`ScoringParameters.pointKey`), so a
/// later grid that holds the same point reuses it. The original job's rows are never touched.
extension StoreReader {
    /// The stored points of a job: point key → the point's result (JSON written by `sweep`).
    public func sweepPoints(job: Int64) throws(StoreError) -> [String: String] {
        let s = try db.prepare("SELECT point, result FROM sweep_points WHERE job_id = ?")
        try s.bind([.int(job)])
        var out = [String: String]()
        while try s.step() {
            if let point = s.text(0), let result = s.text(1) { out[point] = result }
        }
        return out
    }

    /// The finished tasks of points not finished yet: point key → task id → that task's set
    /// result (JSON written by `sweep`).
    public func sweepSets(job: Int64) throws(StoreError) -> [String: [Int64: String]] {
        let s = try db.prepare("SELECT point, task_id, result FROM sweep_sets WHERE job_id = ?")
        try s.bind([.int(job)])
        var out = [String: [Int64: String]]()
        while try s.step() {
            if let point = s.text(0), let result = s.text(2) { out[point, default: [:]][s.int(1)] = result }
        }
        return out
    }
}

extension StoreWriter {
    /// Stores finished points in one transaction (a point already stored is replaced: the
    /// same key over the same stored features gives the same result).
    /// A finished point's per-task rows in `sweep_sets` are deleted in the same transaction:
    /// its result holds them.
    public func storeSweepPoints(job: Int64, _ points: [(key: String, result: String)], now: Double) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            let insert = try db.prepare("INSERT OR REPLACE INTO sweep_points (job_id, point, result, created_at) VALUES (?, ?, ?, ?)")
            let sets = try db.prepare("DELETE FROM sweep_sets WHERE job_id = ? AND point = ?")
            for p in points {
                try insert.run([.int(job), .text(p.key), .text(p.result), .double(now)])
                try sets.run([.int(job), .text(p.key)])
            }
        }
    }

    /// Stores the finished tasks of points (one transaction): a sweep interrupted later
    /// resumes after them.
    public func storeSweepSets(job: Int64, _ sets: [(point: String, task: Int64, result: String)], now: Double) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            let insert = try db.prepare("INSERT OR REPLACE INTO sweep_sets (job_id, point, task_id, result, created_at) VALUES (?, ?, ?, ?, ?)")
            for set in sets { try insert.run([.int(job), .text(set.point), .int(set.task), .text(set.result), .double(now)]) }
        }
    }
}
