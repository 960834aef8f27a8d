import Foundation
import Synchronization

/// Writes queued by callers outside the writer's owner (the memory banks' merges, heartbeats,
/// completions), committed in groups: everything queued while the writer was busy goes into
/// ONE transaction, each write in a savepoint of its own, so a write that fails is rolled back
/// alone and only its caller gets the error. The store keeps one writer connection, and
/// SQLite's cost per transaction (the write lock, the WAL frame append) is paid once per group.
///
/// Two lanes, because their writes differ a thousandfold in cost: a completion stores a unit's
/// result rows (a millisecond and more), a lease or a bank merge a few rows. Every commit runs
/// all the `prompt` writes queued, but `bulk` writes only for a bounded time, so a wave of a
/// thousand completions is stored in slices and a lease or a bank sync waits at most one slice,
/// never the whole wave. Each lane runs in the order it was queued.
///
/// Callers outside the owner wait without holding it (`waitUntilRun`): whoever commits wakes
/// the writes it ran, and one waiter at a time is the group's leader, the one that asks the
/// owner for the next commit. A waiter whose write another commit ran meanwhile never needs
/// the owner at all, which is what keeps a bank sync from queueing behind completions on it.
public final class GroupCommit: @unchecked Sendable {
    /// One write: runs on the writer inside the group's transaction.
    public typealias Write = @Sendable (StoreWriter) throws(StoreError) -> any Sendable

    /// Which lane a write waits in.
    public enum Lane: Sendable {
        /// Small writes a caller waits on: leases, bank merges, heartbeats, failures.
        case prompt
        /// Large writes (a completion's result rows), committed in bounded slices.
        case bulk
    }

    /// What a waiter is told to do next (`turn`).
    public enum Turn: Sendable, Equatable {
        /// Its write ran: its outcome can be taken.
        case ran
        /// It leads: it asks the writer's owner for a commit (`commit(on:leader: true)`), then
        /// waits again.
        case lead
    }

    /// Writes that build on each other (one bank's merges, in the order they were made): once
    /// one of them is not stored, the later ones are not run either, so the database never holds
    /// a merge made on top of one it lost. Whoever owns the line starts a new one after reading
    /// its failure (`failure`), from what the database then holds.
    public final class Line: Sendable {
        private let broken = Mutex<StoreError?>(nil)

        public init() {}

        /// Why a write of this line was not stored (nil: every write so far was, or is queued).
        public var failure: StoreError? { broken.withLock { $0 } }

        func fail(_ error: StoreError) {
            broken.withLock { if $0 == nil { $0 = error } }
        }
    }

    private typealias Item = (id: Int, line: Line?, write: Write)

    private let lock = NSLock()
    private var prompt: [Item] = []
    /// Popped from the front a write at a time, in slices: an `ArraySlice`, so popping is O(1).
    private var bulk: ArraySlice<Item> = []
    /// Queued writes and those of the commit running now: what has not run yet.
    private var unrun = Set<Int>()
    private var outcomes: [Int: Result<any Sendable, StoreError>] = [:]
    private var nextID = 0
    private var waiters: [(id: Int, resume: CheckedContinuation<Turn, Never>)] = []
    /// Whether a waiter is leading (asking the owner for a commit) now.
    private var leading = false
    private var groupCount = 0
    private var writeCount = 0

    /// Groups committed and writes in them, for the metrics and tests.
    public var groups: Int { lock.withLock { groupCount } }
    public var writes: Int { lock.withLock { writeCount } }

    /// The last write id up to which every write has run (stored or refused).
    public var ranThrough: Int { lock.withLock { (unrun.min() ?? nextID + 1) - 1 } }

    public init() {}

    /// Queues a write; `take` answers its outcome once a `commit` ran it. Ids increase in the
    /// order of the calls, and each lane's writes run in that order.
    public func enqueue(_ lane: Lane = .prompt, line: Line? = nil, _ write: @escaping Write) -> Int {
        lock.withLock {
            nextID += 1
            let item = (nextID, line, write)
            if lane == .prompt { prompt.append(item) } else { bulk.append(item) }
            unrun.insert(nextID)
            return nextID
        }
    }

    /// Whether write `id` ran (its outcome is recorded, or was taken).
    public func hasRun(_ id: Int) -> Bool {
        lock.withLock { id <= nextID && !unrun.contains(id) }
    }

    /// The outcome of write `id`, handed over once (nil while it is still queued).
    public func take(_ id: Int) -> Result<any Sendable, StoreError>? {
        lock.withLock { outcomes.removeValue(forKey: id) }
    }

    /// What the caller waiting for write `id` does next: `.ran` once a commit ran it; `.lead`
    /// when no one is leading, so the caller asks the owner for a commit. Suspends while another
    /// waiter leads.
    public func turn(_ id: Int) async -> Turn {
        await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let now: Turn? = lock.withLock {
                if id <= nextID && !unrun.contains(id) { return .ran }
                if !leading {
                    leading = true
                    return .lead
                }
                waiters.append((id, continuation))
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    /// Waits until write `id` ran, leading when it is this caller's turn: `commit(id)` asks the
    /// owner for commits until write `id` ran, ending the lead (`commit(on:leader: true)`, or
    /// `endLead`), and answers false when there is no owner any more (the coordinator was
    /// dropped); then every write queued is refused with `gone`.
    public func waitUntilRun(_ id: Int, commit: (Int) async -> Bool, gone: @autoclosure () -> StoreError) async {
        while true {
            switch await turn(id) {
            case .ran: return
            case .lead: if await !commit(id) { abandon(gone()) }
            }
        }
    }

    /// Runs the queued writes on `writer` in one transaction and records each outcome: every
    /// prompt write, and bulk writes while the transaction is younger than `bulkSeconds` (at
    /// least one when positive; none at 0). Only the writer's owner calls this (the
    /// coordinator's actor), so the connection has one user. `leader`: called for the leading
    /// waiter (`turn`), whose lead ends here. Returns whether bulk writes are still queued.
    @discardableResult
    public func commit(on writer: StoreWriter, bulkSeconds: Double = .infinity, leader: Bool = false) -> Bool {
        let promptBatch = lock.withLock { () -> [Item] in
            defer { prompt = [] }
            return prompt
        }
        var ran = [Item]()
        var results = [Int: Result<any Sendable, StoreError>]()
        func run(_ item: Item) {
            ran.append(item)
            if let failure = item.line?.failure {
                results[item.id] = .failure(.database(path: writer.path, message: "not stored: an earlier write it builds on was not (\(failure))"))
                return
            }
            do throws(StoreError) {
                let value = try writer.db.transaction { () throws(StoreError) -> any Sendable in try item.write(writer) }
                results[item.id] = .success(value)
            } catch {
                item.line?.fail(error)
                results[item.id] = .failure(error)
            }
        }
        let started = ContinuousClock.now
        let budget = Duration.seconds(bulkSeconds.isFinite ? max(bulkSeconds, 0) : 1e9)
        do throws(StoreError) {
            try writer.db.transaction { () throws(StoreError) in
                for item in promptBatch { run(item) }
                guard bulkSeconds > 0 else { return }
                while ran.count == promptBatch.count || ContinuousClock.now - started < budget {
                    guard let item = lock.withLock({ bulk.popFirst() }) else { break }
                    run(item)
                }
            }
        } catch {
            // The group's commit itself failed (a full disk): nothing of it is stored.
            for item in ran {
                item.line?.fail(error)
                results[item.id] = .failure(error)
            }
        }
        let wake = lock.withLock { () -> ([(CheckedContinuation<Turn, Never>, Turn)], Bool) in
            outcomes.merge(results) { $1 }
            for item in ran { unrun.remove(item.id) }
            if !ran.isEmpty {
                groupCount += 1
                writeCount += ran.count
            }
            if leader { leading = false }
            return (wakeWaiters(), !bulk.isEmpty)
        }
        for (continuation, turn) in wake.0 { continuation.resume(returning: turn) }
        return wake.1
    }

    /// Ends the lead of the waiter that committed as leader without `leader: true` (several
    /// commits in a row): another waiter leads if writes still wait.
    public func endLead() {
        let wake = lock.withLock { () -> [(CheckedContinuation<Turn, Never>, Turn)] in
            leading = false
            return wakeWaiters()
        }
        for (continuation, turn) in wake { continuation.resume(returning: turn) }
    }

    /// Refuses every write queued with `error` (the writer's owner is gone) and wakes their
    /// waiters.
    public func abandon(_ error: StoreError) {
        let wake = lock.withLock { () -> [(CheckedContinuation<Turn, Never>, Turn)] in
            for item in prompt + Array(bulk) {
                item.line?.fail(error)
                outcomes[item.id] = .failure(error)
                unrun.remove(item.id)
            }
            (prompt, bulk) = ([], [])
            leading = false
            return wakeWaiters()
        }
        for (continuation, turn) in wake { continuation.resume(returning: turn) }
    }

    /// Under the lock: the waiters whose writes ran, and, while writes wait and no one leads, one
    /// waiter made leader.
    private func wakeWaiters() -> [(CheckedContinuation<Turn, Never>, Turn)] {
        var wake = [(CheckedContinuation<Turn, Never>, Turn)]()
        waiters.removeAll { waiter in
            guard !unrun.contains(waiter.id) else { return false }
            wake.append((waiter.resume, .ran))
            return true
        }
        if !leading, !waiters.isEmpty {
            leading = true
            wake.append((waiters.removeFirst().resume, .lead))
        }
        return wake
    }
}
