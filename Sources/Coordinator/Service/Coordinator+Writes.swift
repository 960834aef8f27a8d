import Foundation
import JobStore

extension Coordinator {
    /// Runs `write` on the coordinator's one writer, in the same transaction as every write
    /// queued meanwhile (`GroupCommit`): the memory banks' merges and the heartbeats call this
    /// from outside the actor, and a burst of them costs one commit, not one each.
    public nonisolated func write<T: Sendable>(_ write: @escaping @Sendable (StoreWriter) throws(StoreError) -> T) async throws(StoreError) -> T {
        let id = groupCommit.enqueue { writer throws(StoreError) -> any Sendable in try write(writer) }
        let outcome = await commitQueued(id)
        switch outcome {
        case let .success(value):
            // `enqueue` wrapped a `T`, so the value is one.
            guard let value = value as? T else { preconditionFailure("group commit returned another type") }
            return value
        case let .failure(error):
            throw error
        }
    }

    /// Commits what is queued, unless an earlier commit already ran write `id` (it was queued
    /// while the actor was busy, and went with that group).
    private func commitQueued(_ id: Int) -> Result<any Sendable, StoreError> {
        if let done = groupCommit.take(id) { return done }
        groupCommit.commit(on: store)
        return groupCommit.take(id) ?? .failure(.database(path: store.path, message: "group commit lost write \(id)"))
    }
}
