/// The coordinator's API as a worker uses it. `CoordinatorClient` implements it over HTTP; the
/// worker's loop is written against this protocol, so it is tested with an in-process stand-in
/// (no server, no sockets).
public protocol CoordinatorAPI: BankSync {
    /// The next unit for `worker`, or none (with whether the coordinator's jobs are finished).
    func lease(worker: String, host: String) async throws -> LeaseResponse
    /// The feature-file rows of a unit `worker` holds under `attempt` (leases carry none):
    /// as the files hold them, not normalised (`UnitRows`).
    func rows(unit: Int64, worker: String, attempt: Int) async throws -> UnitRows
    /// Extends the lease; false: the unit is no longer this worker's.
    func heartbeat(unit: Int64, worker: String) async throws -> Bool
    func complete(unit: Int64, _ request: CompletionRequest) async throws -> CompletionOutcome
    /// The unit failed on its input: it counts an attempt.
    func fail(unit: Int64, worker: String, error: String) async throws
    /// Gives the unit back without counting an attempt (this worker stops, not the unit's fault).
    func release(unit: Int64, worker: String) async throws
    func plan(job: Int64) async throws -> WorkPlan
    /// The same API with retries given up after `seconds`: what a worker uses on its way out,
    /// so a stopping worker does not wait out a long retry window.
    func retrying(within seconds: Double) -> Self
}

/// An error of a `CoordinatorAPI` call: the coordinator refused the call or could not be
/// reached. A worker stops on such errors, except a lost lease, which only ends the unit.
public protocol CoordinatorAPIError: Error {
    /// The coordinator says the unit's lease is no longer this worker's: it expired and the
    /// unit went to another worker, whose results win.
    var leaseLost: Bool { get }
}
