import Foundation
import JobPlan
import JobProtocol
import JobStore

extension Coordinator {
    /// A job's progress; its workers are judged gone by this coordinator's lease period.
    public func progress(job name: String) throws(StoreError) -> JobProgress {
        try store.progress(job: name, now: clock(), expiredLeases: expiredLeases, leaseSeconds: configuration.leaseSeconds)
    }

    /// Counts over every job, read when `/metrics` is scraped.
    public func totals() throws(StoreError) -> CoordinatorTotals {
        try store.totals(expiredLeases: expiredLeases)
    }
}
