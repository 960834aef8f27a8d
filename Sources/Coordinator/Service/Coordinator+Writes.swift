import Foundation
import JobStore

extension Coordinator {
    /// How long one commit may spend on bulk writes (completions' result rows) before the
    /// actor takes the next request: a lease or a bank sync behind a wave of completions waits
    /// one slice, not the wave (`GroupCommit`).
    static let bulkSliceSeconds = 0.01

    /// Runs `write` on the coordinator's one writer, in the same transaction as every write
    /// queued meanwhile (`GroupCommit`), without holding the actor while it waits: the memory
    /// banks' merges, the heartbeats and the completions' result rows call this, and a burst of
    /// them costs one commit, not one each. Returns once the write is committed.
    public nonisolated func write<T: Sendable>(_ lane: GroupCommit.Lane = .prompt,
                                               _ write: @escaping @Sendable (StoreWriter) throws(StoreError) -> T) async throws(StoreError) -> T {
        let id = groupCommit.enqueue(lane) { writer throws(StoreError) -> any Sendable in try write(writer) }
        await committed(id)
        return try outcome(id, as: T.self)
    }

    /// Waits until write `id` ran, asking the actor for a commit when it is this caller's turn
    /// to lead (`GroupCommit.waitUntilRun`).
    nonisolated func committed(_ id: Int) async {
        await groupCommit.waitUntilRun(id, commit: { await self.commitAsLeader(until: $0); return true },
                                       gone: .database(path: storePath, message: "the coordinator stopped before write \(id) was stored"))
    }

    /// Runs `write` on the writer now, from the actor, in the same transaction as the prompt
    /// writes queued meanwhile (bank merges, heartbeats): a lease, failure or release is one
    /// savepoint of that group instead of a transaction of its own. Committed before this
    /// returns, so a reply never announces what a coordinator killed now would not have stored;
    /// a write that fails is rolled back alone (`GroupCommit`). Bulk writes queued are left to
    /// their leader, so a lease never waits for a wave of completions.
    func writeNow<T: Sendable>(_ write: @escaping @Sendable (StoreWriter) throws(StoreError) -> T) throws(StoreError) -> T {
        let id = groupCommit.enqueue(.prompt) { writer throws(StoreError) -> any Sendable in try write(writer) }
        groupCommit.commit(on: store, bulkSeconds: 0)
        return try outcome(id, as: T.self)
    }

    /// The commits of the group's leading waiter, until its own write `id` ran: every prompt
    /// write, and bulk writes slice by slice, the actor yielded between slices so the leases,
    /// syncs and checks queued meanwhile go first. Then the lead passes to the oldest waiter
    /// still waiting (`GroupCommit.endLead`): a sync that leads commits once, and a completion
    /// leads through the slices queued before its own, never through a whole busy period.
    func commitAsLeader(until id: Int) async {
        while groupCommit.commit(on: store, bulkSeconds: Self.bulkSliceSeconds), !groupCommit.hasRun(id) {
            await Task.yield()
        }
        groupCommit.endLead()
    }

    /// Write `id`'s outcome, once it ran.
    private nonisolated func outcome<T: Sendable>(_ id: Int, as: T.Type) throws(StoreError) -> T {
        switch groupCommit.take(id) {
        case let .success(value)?:
            // `enqueue` wrapped a `T`, so the value is one.
            guard let value = value as? T else { preconditionFailure("group commit returned another type") }
            return value
        case let .failure(error)?:
            throw error
        case nil:
            throw .database(path: storePath, message: "group commit lost write \(id)")
        }
    }
}
