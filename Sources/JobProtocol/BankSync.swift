import AdaNegCore
import Foundation

/// A worker's side of the bank exchange: `CoordinatorClient` over HTTP (`BankWire`), or any
/// stand-in, so the batch loop is tested without a server.
public protocol BankSync: Sendable {
    /// Pushes the request's entries and pulls what the replica misses (`BankSyncReply`).
    func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply
}

/// What a worker sends to `POST /v1/tasks/{task}/bank`: the entries its replica accepted since
/// its last sync, the bank version it holds, and how far its unit has pushed.
public struct BankSyncRequest: Sendable, Equatable {
    /// The version of the task's bank the worker's replica holds (0: none yet).
    public var since: Int64
    /// Every stream position of the worker's unit below this one has been pushed (this request
    /// included); 0 when the request reports no progress (a pull). The coordinator's frontier
    /// is built from these.
    public var position: Int
    public var delta: BankDelta

    public init(since: Int64, position: Int = 0, delta: BankDelta = BankDelta()) {
        self.since = since
        self.position = position
        self.delta = delta
    }
}

/// The coordinator's answer: what the worker misses, and where the worker stands.
public struct BankSyncReply: Sendable, Equatable {
    /// Entries accepted after the request's `since` (oldest first) that are still in the bank,
    /// less those the request itself pushed: at most the pull budget's worth.
    public var delta: BankDelta
    /// The worker holds every entry accepted up to this version once it merges `delta`.
    public var version: Int64
    /// Entries accepted after `version` and still in the bank: what the budget left for the next pull.
    public var behind: Int
    /// The first stream position whose entries may not be merged yet: every unit's entries
    /// before it are in the bank.
    public var frontier: Int
    /// How many stream positions past `frontier` a worker may score a batch (nil: no bound).
    public var window: Int?
    /// How many entries behind (`behind`) a worker may score a batch (nil: no bound).
    public var maxBehind: Int?
    /// Bytes of the request and of the reply on the wire, as sent (set by the transport; 0 in process).
    public var pushedBytes = 0
    public var pulledBytes = 0

    public init(delta: BankDelta = BankDelta(), version: Int64, behind: Int = 0, frontier: Int = 0, window: Int? = nil, maxBehind: Int? = nil) {
        self.delta = delta
        self.version = version
        self.behind = behind
        self.frontier = frontier
        self.window = window
        self.maxBehind = maxBehind
    }

    /// The staleness rule (docs/capacity.md): a batch starting at `position` may be scored once
    /// the replica is at most `maxBehind` entries behind the coordinator's bank and at most
    /// `window` positions past the frontier.
    public func allowsScoring(at position: Int) -> Bool {
        if let maxBehind, behind > maxBehind { return false }
        if let window, position - frontier > window { return false }
        return true
    }
}
