import ArgumentParser
import Foundation
import JobPlan
import JobProtocol
import Platform
import JobSpec
import Report

/// `adaneg run`: the embedded default.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job end to end on this machine: a coordinator on SQLite plus local worker processes.",
        discussion: """
        Running the same command again after an interruption resumes: completed units are kept \
        and only the rest is scored. The database defaults to .adaneg/<job name>.sqlite; one \
        process writes a database at a time (a second `run`, `serve` or `rescore` on it is \
        refused, naming the holder), and a file that is not an adaneg database is never written.

        Exit status: 0 every unit done (samples that could not be scored, such as an unreadable \
        image, are counted and named in the summary and left out of the metrics); 1 the job \
        finished with failures (units failed after their attempts, or a set has no metrics \
        because every sample of it errored; the summary names them); 2 refused or stopped: bad \
        input, the database in use or not adaneg's, an interruption, or the database's disk \
        full (run the same command again to resume).
        """
    )

    @Argument(help: "The job spec (YAML).") var job: String
    @OptionGroup var workerCount: WorkerCountOptions
    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var banks: BankPolicyOptions
    @OptionGroup var rowsOptions: WorkerRowsOptions
    @Option(name: .customLong("batch-size"), help: "Images per forward pass on the workers' GPU (default: what fits its memory).")
    var batchSize: Int?
    @Option(help: "SQLite database for the run.") var db: String?
    @Option(name: .customLong("max-pixels"),
            help: ArgumentHelp("Refuse images with more pixels than this on the local workers (each one a per-sample error), besides the job's own max_pixels (default 89478485).", valueName: "N"))
    var maxPixels: Int?
    @Option(help: ArgumentHelp("Testing: milliseconds each worker sleeps per batch.", visibility: .hidden))
    var simulateBatchMs: Double = 0
    @Option(help: ArgumentHelp("Testing: workers abort when they lease this unit.", visibility: .hidden))
    var simulateCrashUnit: Int64?

    /// Out-of-range numbers are a user error (exit 2), checked before anything starts.
    func checkRanges() throws {
        if let workers = workerCount.workers { try WorkerCountOptions.check(workers) }
        try DeviceOptions.checkBatchSize(batchSize)
        try PixelLimit.check(maxPixels, flag: "--max-pixels")
        try SharedFlagRanges.checkSimulatedBatch(simulateBatchMs)
    }

    func run() async throws {
        try checkRanges()
        let gpu = try deviceOptions.preflight()
        let loaded = try JobLoading.load(job)
        let database = db ?? ".adaneg/\(loaded.name).sqlite"
        try OutputDirectory.create(URL(fileURLWithPath: database).deletingLastPathComponent().path, flag: "--db")
        let spec = try JobPreparation.resolveNegatives(loaded,
                                                       directory: URL(fileURLWithPath: database).deletingLastPathComponent().path)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // One GPU is best fed by one worker: more would each hold a copy of the weights.
        let count = try workerCount.count(default: gpu == nil ? cores : 1)
        var run = EmbeddedRun(spec: spec, databasePath: database, workers: count, threadsPerWorker: max(1, cores / count))
        run.simulatedBatchMilliseconds = simulateBatchMs
        run.simulatedCrashUnit = simulateCrashUnit
        run.device = gpu?.description
        run.gpuBatchSize = gpu == nil ? nil : batchSize
        run.maxPixels = maxPixels
        run.banks = try banks.policy()
        run.rows = try rowsOptions.source()
        let outcome = try await run.run()
        print(try RunSummary.table(outcome), terminator: "")
        print(RunSummary.text(outcome))
        // The metrics above are complete but for the failures; a script must still see that
        // the run did not go cleanly (exit 1, not 2: the job ran, the input was accepted).
        if let failure = RunSummary.failure(outcome) { throw failure }
    }
}

enum RunSummary {
    static func table(_ o: EmbeddedRun.Outcome) throws -> String {
        do {
            return try o.report.render(.table)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Why a job that ran to its end did not succeed, or nil when it did: units that failed
    /// (first those whose workers kept dying), then sets left without metrics because every
    /// sample of theirs errored. Per-sample errors alone are within tolerance (no spec key sets
    /// one): they are named in the summary and left out of the metrics.
    static func failure(_ o: EmbeddedRun.Outcome) -> JobFailure? {
        if let first = o.killerUnits.first {
            return JobFailure("workers keep dying on unit \(first.unit): \(first.reason)")
        }
        let units = o.status.units
        let first = o.status.failed.first.map { "; first: unit \($0.unit) (\(place($0, o))): \(TerminalText.escaped($0.error))" } ?? ""
        switch units.state {
        case .failed:
            return JobFailure("job '\(o.status.job)' failed: every unit failed (\(Plural.count(units.total, "unit"))), nothing was scored\(first)")
        case .finishedWithFailures:
            return JobFailure("job '\(o.status.job)' finished with failures: \(units.failed) of \(Plural.count(units.total, "unit")) failed\(first)")
        case .cancelled:
            return JobFailure("job '\(o.status.job)' was cancelled: \(units.cancelled) of \(Plural.count(units.total, "unit")) dropped")
        case .running, .complete:
            break
        }
        let empty = o.report.sets.filter { $0.metrics.isEmpty && $0.missing == 0 && $0.errored > 0 }
        guard let set = empty.first else { return nil }
        let reason = o.report.sampleErrors.first { $0.set == set.name }.map { ": \($0.message)" } ?? ""
        return JobFailure("job '\(o.status.job)' finished with failures: set '\(set.name)' has no metrics, "
            + "\(set.errored) of its \(Plural.count(set.samples, "sample")) errored\(reason)")
    }

    /// Where a failed unit belongs: its task and the OOD set the task streams with the ID set.
    static func place(_ unit: FailedUnit, _ o: EmbeddedRun.Outcome) -> String {
        guard let task = o.status.tasks.first(where: { $0.id == unit.task }) else { return "task \(unit.task)" }
        return "task \(unit.task), set \(TerminalText.escaped(task.oodName))"
    }

    static func text(_ o: EmbeddedRun.Outcome) -> String {
        var lines = [String]()
        let acc = o.report.sets.compactMap { $0.metrics["adaneg"]?.accuracy }
        if !acc.isEmpty { lines.append(String(format: "ID accuracy (AdaNeg prediction, mean over sets): %.2f%%", 100 * acc.reduce(0, +) / Double(acc.count))) }
        switch o.status.units.state {
        case .failed: lines.append("job '\(o.status.job)' FAILED: every unit failed")
        case .finishedWithFailures: lines.append("job '\(o.status.job)' finished with failures")
        case .cancelled: lines.append("job '\(o.status.job)' was cancelled")
        case .running, .complete: break
        }
        let errored = o.report.sets.reduce(0) { $0 + $1.errored }
        if errored > 0 { lines.append("\(Plural.count(errored, "sample")) could not be scored (left out of the metrics; see adaneg report):") }
        for e in o.report.sampleErrors.prefix(5) {
            lines.append("  set \(e.set): \(Plural.count(e.count, "sample")): \(TerminalText.escaped(e.message))")
        }
        if o.report.sampleErrors.count > 5 { lines.append("  … and \(o.report.sampleErrors.count - 5) more kinds of error (adaneg report)") }
        if o.status.units.failed > 0 { lines.append("\(Plural.count(o.status.units.failed, "unit")) failed; their samples are missing from the metrics") }
        let killers = Dictionary(o.killerUnits.map { ($0.unit, $0.reason) }, uniquingKeysWith: { a, _ in a })
        for unit in o.status.failed.prefix(10) {
            if let reason = killers[unit.unit] {
                lines.append("  workers keep dying on unit \(unit.unit) (\(place(unit, o))): \(reason); parked as failed after \(Plural.count(unit.attempts, "attempt"))")
            } else {
                lines.append("  unit \(unit.unit) (\(place(unit, o))) failed after \(Plural.count(unit.attempts, "attempt")): \(TerminalText.escaped(unit.error))")
            }
        }
        if o.status.failed.count > 10 { lines.append("  … and \(o.status.failed.count - 10) more (adaneg status)") }
        lines.append("\(Plural.count(o.status.results, "sample")) in " + String(format: "%.1f", o.seconds) + " s with \(Plural.count(o.workers, "worker")).")
        return lines.joined(separator: "\n")
    }
}
