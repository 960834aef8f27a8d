import Foundation
import JobProtocol
import JobStore

extension Coordinator {
    /// Who submitted the job named `name`, and whether it was cancelled.
    public func ownership(job name: String) throws(StoreError) -> JobOwnership {
        try store.ownership(job: try job(named: name).id)
    }

    /// Records the name of the token that submitted `job` (the first one only).
    public func recordSubmitter(job: Int64, name: String) throws(StoreError) {
        try store.recordSubmitter(job: job, name: name)
    }

    /// Cancels the job named `name`: the units not yet done are dropped, stored results kept.
    public func cancel(job name: String) throws(StoreError) -> CancelResponse {
        let record = try job(named: name)
        let dropped = try store.cancel(job: record.id, now: clock())
        logger.notice("job cancelled", metadata: ["job": "\(record.name.loggable)", "dropped units": "\(dropped)"])
        return CancelResponse(job: record.id, name: record.name, droppedUnits: dropped)
    }
}
