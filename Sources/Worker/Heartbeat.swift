import Foundation
import JobProtocol
import Synchronization

/// Keeps a unit's lease alive: a child task of the unit's work (`Worker.process`), so it ends
/// with the unit, whichever way the unit ends.
enum Heartbeat {
    /// Extends the lease every third of its length until cancelled; marks `lost` when the
    /// coordinator answers that the unit is no longer this worker's. A failed heartbeat is
    /// retried at the next beat (the client retries within its window meanwhile).
    static func run(_ api: any CoordinatorAPI, grant: LeaseGrant, worker: String, lost: LeaseFlag) async {
        let interval = max(grant.leaseSeconds / 3, 0.05)
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            if Task.isCancelled { return }
            if (try? await api.heartbeat(unit: grant.unit, worker: worker)) == false { lost.markLost() }
        }
    }
}

/// Set by the heartbeat when the coordinator says the lease is no longer ours; read by the
/// batch loop between batches.
final class LeaseFlag: Sendable {
    private let lost = Mutex(false)

    func markLost() { lost.withLock { $0 = true } }
    var isLost: Bool { lost.withLock { $0 } }
}
