import Foundation

/// Read-only connections to the writer's database, one per reader at a time: the
/// coordinator's GET routes and `/metrics` read here, so they never queue behind the writer's
/// actor (GRDB's pool: one writer, read-only readers). The database is in WAL mode, so a read
/// sees every transaction committed before it began, and never blocks the writer.
public final class StoreReaders: @unchecked Sendable {
    public let path: String
    /// Connections kept open between reads; a burst opens more and closes them after.
    private let keep: Int
    private let lock = NSLock()
    private var idle: [StoreReader] = []

    init(path: String, keep: Int = 4) {
        self.path = path
        self.keep = keep
    }

    /// Runs `body` with a read-only connection of its own.
    public func read<T>(_ body: (StoreReader) throws(StoreError) -> T) throws(StoreError) -> T {
        let reader = try checkOut()
        defer { checkIn(reader) }
        return try body(reader)
    }

    private func checkOut() throws(StoreError) -> StoreReader {
        if let reader = lock.withLock({ idle.popLast() }) { return reader }
        let connection = try SQLiteConnection(path: path, readOnly: true)
        try Schema.checkReadable(connection)
        return StoreReader(connection: connection)
    }

    private func checkIn(_ reader: StoreReader) {
        // A connection whose storage failed is not kept.
        guard reader.storageFailure == nil else { return }
        lock.withLock { if idle.count < keep { idle.append(reader) } }
    }
}

extension StoreWriter {
    /// Read-only connections to this database; nil for an in-memory database, which only this
    /// connection can see.
    public func makeReaders() -> StoreReaders? {
        path == ":memory:" || path.isEmpty ? nil : StoreReaders(path: path)
    }
}
