/// Numeric flags that several commands take, each with one range and one message, so every
/// command refuses the same values the same way (exit 2, naming the flag).
enum SharedFlagRanges {
    /// `--threads` of the commands that compute in this process (`embed-images`, `embed-text`).
    static let computeThreads = 1...4096
    /// `--simulate-batch-ms` (`run` passes it to its local workers, `worker` sleeps it per batch).
    static let simulatedBatchMilliseconds = 0.0...60_000.0

    /// `--threads`, when given, within `computeThreads`.
    static func checkComputeThreads(_ threads: Int?) throws {
        guard let threads else { return }
        guard computeThreads.contains(threads) else {
            throw CommandFailure("--threads must be in \(computeThreads.lowerBound)...\(computeThreads.upperBound) (got \(threads))")
        }
    }

    /// `--simulate-batch-ms` within `simulatedBatchMilliseconds` (a finite number).
    static func checkSimulatedBatch(_ milliseconds: Double) throws {
        guard milliseconds.isFinite, simulatedBatchMilliseconds.contains(milliseconds) else {
            throw CommandFailure("--simulate-batch-ms must be in 0...60000 (got \(milliseconds))")
        }
    }
}
