import Foundation
import Synchronization

/// Writes queued by callers outside the writer's owner (the memory banks' merges, heartbeats),
/// committed in groups: everything queued while the writer was busy goes into ONE transaction,
/// each write in a savepoint of its own, so a write that fails is rolled back alone and only its
/// caller gets the error. The store keeps one writer connection, and SQLite's cost per
/// transaction (the write lock, the WAL frame append) is paid once per group, not per write.
public final class GroupCommit: @unchecked Sendable {
    /// One write: runs on the writer inside the group's transaction.
    public typealias Write = @Sendable (StoreWriter) throws(StoreError) -> any Sendable

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

    private let lock = NSLock()
    private var queued: [(id: Int, line: Line?, write: Write)] = []
    private var outcomes: [Int: Result<any Sendable, StoreError>] = [:]
    private var nextID = 0
    /// Groups committed and writes in them, for the metrics and tests.
    public private(set) var groups = 0
    public private(set) var writes = 0
    /// The last write id a commit has run (stored or refused): writes are run in the order
    /// they were queued, so every write up to it has its outcome.
    public var ranThrough: Int { lock.withLock { ran } }
    private var ran = 0

    public init() {}

    /// Queues a write; `take` answers its outcome once a `commit` ran it. Ids increase in the
    /// order of the calls, and writes run in that order.
    public func enqueue(line: Line? = nil, _ write: @escaping Write) -> Int {
        lock.withLock {
            nextID += 1
            queued.append((nextID, line, write))
            return nextID
        }
    }

    /// The outcome of write `id`, handed over once (nil while it is still queued).
    public func take(_ id: Int) -> Result<any Sendable, StoreError>? {
        lock.withLock { outcomes.removeValue(forKey: id) }
    }

    /// Runs every queued write on `writer` in one transaction and records each outcome. Only
    /// the writer's owner calls this (the coordinator's actor), so the connection has one user.
    public func commit(on writer: StoreWriter) {
        let batch = lock.withLock { () -> [(id: Int, line: Line?, write: Write)] in
            defer { queued = [] }
            return queued
        }
        guard let last = batch.last?.id else { return }
        var results = [Int: Result<any Sendable, StoreError>]()
        do throws(StoreError) {
            try writer.db.transaction { () throws(StoreError) in
                for item in batch {
                    if let failure = item.line?.failure {
                        results[item.id] = .failure(.database(path: writer.path, message: "not stored: an earlier write it builds on was not (\(failure))"))
                        continue
                    }
                    do throws(StoreError) {
                        let value = try writer.db.transaction { () throws(StoreError) -> any Sendable in try item.write(writer) }
                        results[item.id] = .success(value)
                    } catch {
                        item.line?.fail(error)
                        results[item.id] = .failure(error)
                    }
                }
            }
        } catch {
            // The group's commit itself failed (a full disk): nothing of it is stored.
            for item in batch {
                item.line?.fail(error)
                results[item.id] = .failure(error)
            }
        }
        lock.withLock {
            outcomes.merge(results) { $1 }
            groups += 1
            writes += batch.count
            ran = max(ran, last)
        }
    }
}
