import Dispatch

/// The `Coordinator` actor's executor: a serial dispatch queue of its own, off Swift's
/// cooperative pool. The actor owns the database's one writer and commits on it (a slice of a
/// wave of completions is milliseconds of SQLite); on the cooperative pool (one thread per core)
/// that work took a thread from the bank syncs and the HTTP handlers, which then waited behind
/// it. As GRDB gives its writer a serial queue, the coordinator's writer gets one.
final class WriterExecutor: SerialExecutor {
    private let queue = DispatchQueue(label: "adaneg.coordinator.writer")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}
