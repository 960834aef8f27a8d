import Foundation
import JobPlan
import JobProtocol
import JobStore

extension Coordinator {
    /// A job's progress; its workers are judged gone by this coordinator's lease period.
    public nonisolated func progress(job name: String) async throws(StoreError) -> JobProgress {
        let now = clock(), expired = expiredLeases, leaseSeconds = configuration.leaseSeconds
        return try await read { r throws(StoreError) in try r.progress(job: name, now: now, expiredLeases: expired, leaseSeconds: leaseSeconds) }
    }

    /// Counts over every job, read when `/metrics` is scraped (on a read-only connection).
    public nonisolated func totals() async throws(StoreError) -> CoordinatorTotals {
        let expired = expiredLeases
        return try await read { r throws(StoreError) in try r.totals(expiredLeases: expired) }
    }
}
