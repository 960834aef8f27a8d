import Foundation
import JobPlan
import JobStore

extension Coordinator {
    public func progress(job name: String) throws(StoreError) -> JobProgress {
        try store.progress(job: name, now: clock(), expiredLeases: expiredLeases)
    }

    /// Counts over every job, read when `/metrics` is scraped.
    public func totals() throws(StoreError) -> CoordinatorTotals {
        try store.totals(expiredLeases: expiredLeases)
    }
}
