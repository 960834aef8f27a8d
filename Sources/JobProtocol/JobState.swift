/// Where a job stands, from its unit counts: the one definition `status`, `report` and `run`'s
/// summary use, so a job whose units all failed reads as failed everywhere, never as "not
/// finished" (nothing is left to wait for).
public enum JobState: String, Codable, Sendable {
    /// Units are pending or leased: there is still something to wait for.
    case running
    /// Every unit done.
    case complete
    /// Nothing left to run; some units failed (parked after their attempts), some are done.
    case finishedWithFailures = "finished with failures"
    /// Nothing left to run and no unit done: every unit failed.
    case failed
    /// Cancelled (`adaneg cancel`): the units not done were dropped; the results already
    /// stored are kept.
    case cancelled

    /// Whether nothing is left to lease or wait for.
    public var isFinished: Bool { self != .running }
}

extension UnitCounts {
    /// The job's state from these counts.
    public var state: JobState {
        if !isFinished { return .running }
        if cancelled > 0 { return .cancelled }
        if failed == 0 { return .complete }
        return done == 0 ? .failed : .finishedWithFailures
    }
}
