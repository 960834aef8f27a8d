import JobStore

extension Coordinator {
    /// The first failure of the storage under the database (a full disk, an I/O error), naming
    /// the database and the cause; nil while every write succeeds. The write that met it was
    /// rolled back and answered with a 5xx, so nothing stored is lost: `serve` keeps answering
    /// and recovers when space returns, while `run`, which owns its coordinator, stops on it.
    public var storageFailure: StoreError? { store.storageFailure }
}
