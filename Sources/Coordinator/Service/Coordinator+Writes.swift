import Foundation
import JobStore

extension Coordinator {
    /// Runs `write` on the coordinator's one writer, in the same transaction as every write
    /// queued meanwhile (`GroupCommit`): the memory banks' merges and the heartbeats call this
    /// from outside the actor, and a burst of them costs one commit, not one each.
    public nonisolated func write<T: Sendable>(_ write: @escaping @Sendable (StoreWriter) throws(StoreError) -> T) async throws(StoreError) -> T {
        let id = groupCommit.enqueue { writer throws(StoreError) -> any Sendable in try write(writer) }
        switch await committed(id) {
        case let .success(value):
            // `enqueue` wrapped a `T`, so the value is one.
            guard let value = value as? T else { preconditionFailure("group commit returned another type") }
            return value
        case let .failure(error):
            throw error
        }
    }

    /// Runs `write` on the writer now, from the actor, in the same transaction as whatever was
    /// queued meanwhile (bank merges, heartbeats): a lease, completion, failure or release is
    /// one savepoint of that group instead of a transaction of its own. Committed before this
    /// returns, so a reply never announces what a coordinator killed now would not have stored;
    /// a write that fails is rolled back alone (`GroupCommit`).
    func writeNow<T: Sendable>(_ write: @escaping @Sendable (StoreWriter) throws(StoreError) -> T) throws(StoreError) -> T {
        let id = groupCommit.enqueue { writer throws(StoreError) -> any Sendable in try write(writer) }
        switch committed(id) {
        case let .success(value):
            guard let value = value as? T else { preconditionFailure("group commit returned another type") }
            return value
        case let .failure(error):
            throw error
        }
    }

    /// Write `id`'s outcome, once committed.
    private func committed(_ id: Int) -> Result<any Sendable, StoreError> {
        commit(through: id)
        return groupCommit.take(id) ?? .failure(.database(path: store.path, message: "group commit lost write \(id)"))
    }

    /// Commits what is queued, unless an earlier commit already ran write `id` (it was queued
    /// while the actor was busy, and went with that group). Returns once write `id` has its
    /// outcome.
    func commit(through id: Int) {
        if groupCommit.ranThrough < id { groupCommit.commit(on: store) }
    }
}
