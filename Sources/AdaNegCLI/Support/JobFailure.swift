/// A job that ran to its end but did not succeed: units failed (parked after their attempts),
/// or a set ended without metrics because every sample of it errored. The metrics of what did
/// succeed were printed and are stored; the entry point prints `error: <message>` and exits
/// with status 1, so a script tells it from success (0) and from a refusal (2: bad input, a
/// database in use or not adaneg's, an interrupted run, a full disk).
///
/// Exit statuses of the commands that run a job to completion (`run`, `rescore`, `demo`):
/// - 0: every unit done; per-sample errors (an unreadable image, a non-finite row) are within
///   tolerance: they are counted and named in the summary and left out of the metrics;
/// - 1: the job finished with failures (this error);
/// - 2: refused or stopped: bad input, a database in use or not adaneg's, an interruption,
///   the database's disk full; running the same command again resumes where it makes sense.
struct JobFailure: Error, CustomStringConvertible {
    var message: String

    init(_ message: String) { self.message = message }

    var description: String { message }

    /// The exit status for a job that finished with failures.
    static let exitStatus: Int32 = 1
}
