import Foundation

/// Writes queued by callers outside the writer's owner (the memory banks' merges, heartbeats),
/// committed in groups: everything queued while the writer was busy goes into ONE transaction,
/// each write in a savepoint of its own, so a write that fails is rolled back alone and only its
/// caller gets the error. The store keeps one writer connection, and SQLite's cost per
/// transaction (the write lock, the WAL frame append) is paid once per group, not per write.
public final class GroupCommit: @unchecked Sendable {
    /// One write: runs on the writer inside the group's transaction.
    public typealias Write = @Sendable (StoreWriter) throws(StoreError) -> any Sendable

    private let lock = NSLock()
    private var queued: [(id: Int, write: Write)] = []
    private var outcomes: [Int: Result<any Sendable, StoreError>] = [:]
    private var nextID = 0
    /// Groups committed and writes in them, for the metrics and tests.
    public private(set) var groups = 0
    public private(set) var writes = 0

    public init() {}

    /// Queues a write; `take` answers its outcome once a `commit` ran it.
    public func enqueue(_ write: @escaping Write) -> Int {
        lock.withLock {
            nextID += 1
            queued.append((nextID, write))
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
        let batch = lock.withLock { () -> [(id: Int, write: Write)] in
            defer { queued = [] }
            return queued
        }
        guard !batch.isEmpty else { return }
        var results = [Int: Result<any Sendable, StoreError>]()
        do throws(StoreError) {
            try writer.db.transaction { () throws(StoreError) in
                for item in batch {
                    do throws(StoreError) {
                        let value = try writer.db.transaction { () throws(StoreError) -> any Sendable in try item.write(writer) }
                        results[item.id] = .success(value)
                    } catch {
                        results[item.id] = .failure(error)
                    }
                }
            }
        } catch {
            // The group's commit itself failed (a full disk): nothing of it is stored.
            for item in batch { results[item.id] = .failure(error) }
        }
        lock.withLock {
            outcomes.merge(results) { $1 }
            groups += 1
            writes += batch.count
        }
    }
}
