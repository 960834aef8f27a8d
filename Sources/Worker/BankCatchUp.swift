import AdaNegCore
import Foundation
import JobProtocol

/// The one bank step of a worker (docs/capacity.md, "Staleness"): push what the replica
/// accepted, pull what it misses, and keep pulling until the reply's staleness bound holds for
/// the batch about to be scored: at most `maxBehind` accepted entries behind the coordinator's
/// bank, and at most `window` positions past the frontier (below which every unit's entries
/// are merged). Each pull is bounded by the coordinator's budget, so bytes per sync stay
/// bounded; a worker that is too far ahead waits, with backoff, instead of scoring against a
/// bank that lacks the entries before it. A wait is capped at `maxWait` seconds (a unit at the
/// frontier may have lost its worker and wait for its lease to expire): the batch is then
/// scored as it is, and the outcome says so.
public enum BankCatchUp {
    /// What one step did.
    public struct Outcome: Sendable, Equatable {
        /// The bank version the replica now holds.
        public var version: Int64
        /// Syncs made (the push included).
        public var syncs = 0
        /// Entries pulled, and bytes pushed and pulled on the wire.
        public var pulledEntries = 0
        public var pushedBytes = 0
        public var pulledBytes = 0
        /// Seconds spent waiting for the frontier (not pulling).
        public var waitedSeconds = 0.0
        /// The bound did not hold when `maxWait` ran out.
        public var gaveUp = false
        /// The last reply's distance from the coordinator's bank.
        public var behind = 0
    }

    /// - Parameters:
    ///   - position: every position of the unit below this one has been pushed (with `delta`).
    ///   - scoringAt: the first position of the batch about to be scored; nil: no batch (a
    ///     replica catching up), only `maxBehind` applies.
    ///   - merge: applies a pulled delta to the replica.
    public static func step(_ sync: some BankSync, task: Int64, since: Int64, position: Int, delta: BankDelta, scoringAt: Int?,
                            dimension: Int, maxWait: Double, merge: (BankDelta) -> Void) async throws -> Outcome {
        var outcome = Outcome(version: since)
        var request = BankSyncRequest(since: since, position: position, delta: delta)
        let started = DispatchTime.now().uptimeNanoseconds
        var pause = 0.005
        while true {
            let reply = try await sync.syncBank(task: task, request, dimension: dimension)
            outcome.syncs += 1
            outcome.pulledEntries += reply.delta.entries.count
            outcome.pushedBytes += reply.pushedBytes
            outcome.pulledBytes += reply.pulledBytes
            outcome.behind = reply.behind
            if !reply.delta.isEmpty { merge(reply.delta) }
            outcome.version = reply.version
            request = BankSyncRequest(since: reply.version, position: position)
            let tooFarBehind = reply.maxBehind.map { reply.behind > $0 } ?? false
            let tooFarAhead = scoringAt.map { at in reply.window.map { at - reply.frontier > $0 } ?? false } ?? false
            if !tooFarBehind && !tooFarAhead { return outcome }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            if elapsed >= maxWait {
                outcome.gaveUp = true
                return outcome
            }
            if !tooFarBehind {
                // Ahead of the frontier: the entries it needs are not merged yet; pulling again at
                // once would find nothing new.
                let nap = min(pause, maxWait - elapsed)
                try await Task.sleep(nanoseconds: UInt64(nap * 1e9))
                outcome.waitedSeconds += nap
                pause = min(pause * 2, 0.25)
            }
        }
    }
}
