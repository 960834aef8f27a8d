import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// Units: the leasable pieces of a task, and their counts by state.
extension StoreReader {
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

    private static let unitByID = "SELECT \(unitColumns) FROM units WHERE id = ?"

    public func unit(id: Int64) throws(StoreError) -> UnitRecord? {
        try db.cached(Self.unitByID) { s throws(StoreError) -> UnitRecord? in
            try s.bind([.int(id)])
            return try s.step() ? readUnit(s) : nil
        }
    }

    public func units(task: Int64) throws(StoreError) -> [UnitRecord] {
        let s = try db.prepare("SELECT \(Self.unitColumns) FROM units WHERE task_id = ? ORDER BY first_sample")
        try s.bind([.int(task)])
        var out = [UnitRecord]()
        while try s.step() { out.append(readUnit(s)) }
        return out
    }

    /// Units a worker holds right now.
    public func leasedUnits(worker: String) throws(StoreError) -> [UnitRecord] {
        let s = try db.prepare("SELECT \(Self.unitColumns) FROM units WHERE state = 'leased' AND lease_owner = ? ORDER BY id")
        try s.bind([.text(worker)])
        var out = [UnitRecord]()
        while try s.step() { out.append(readUnit(s)) }
        return out
    }

    public func unitCounts(job: Int64?) throws(StoreError) -> UnitCounts {
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

    public func failedUnits(job: Int64) throws(StoreError) -> [UnitRecord] {
        let s = try db.prepare("SELECT \(Self.unitColumns.split(separator: ",").map { "u." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? AND u.state = 'failed' ORDER BY u.id")
        try s.bind([.int(job)])
        var out = [UnitRecord]()
        while try s.step() { out.append(readUnit(s)) }
        return out
    }
}
