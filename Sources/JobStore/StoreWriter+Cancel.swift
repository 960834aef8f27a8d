import Foundation
import JobProtocol

/// Who submitted a job and whether it was cancelled (schema 4): what `status` shows and what
/// decides whether a `submit` token may cancel it.
public struct JobOwnership: Sendable, Equatable {
    public var submittedBy: String?
    public var cancelledAt: Double?

    public init(submittedBy: String?, cancelledAt: Double?) {
        self.submittedBy = submittedBy
        self.cancelledAt = cancelledAt
    }
}

extension StoreReader {
    public func ownership(job: Int64) throws(StoreError) -> JobOwnership {
        let s = try db.prepare("SELECT submitted_by, cancelled_at FROM jobs WHERE id = ?")
        try s.bind([.int(job)])
        guard try s.step() else { throw .unknownJob("#\(job)") }
        return JobOwnership(submittedBy: s.text(0), cancelledAt: s.isNull(1) ? nil : s.double(1))
    }
}

extension StoreWriter {
    /// Records the token that submitted `job`, once: a resubmission under another token keeps
    /// the first name.
    public func recordSubmitter(job: Int64, name: String) throws(StoreError) {
        try db.prepare("UPDATE jobs SET submitted_by = ? WHERE id = ? AND submitted_by IS NULL").run([.text(name), .int(job)])
    }

    /// Cancels `job`: its pending and leased units become `cancelled` (no worker gets them, and
    /// a worker holding one learns it at its next heartbeat, sync or completion), done and
    /// failed units and every stored result stay. Returns the units dropped. A job with nothing
    /// left to run is not marked cancelled (nothing changes); a second cancel drops none and keeps
    /// the first time.
    public func cancel(job: Int64, now: Double) throws(StoreError) -> Int {
        try db.transaction { () throws(StoreError) -> Int in
            try db.prepare("""
                UPDATE units SET state = 'cancelled', lease_owner = NULL, lease_expires = NULL
                WHERE state IN ('pending', 'leased') AND task_id IN (SELECT id FROM tasks WHERE job_id = ?)
                """).run([.int(job)])
            let dropped = db.changes
            if dropped > 0 {
                try db.prepare("UPDATE jobs SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL").run([.double(now), .int(job)])
            }
            return dropped
        }
    }
}
