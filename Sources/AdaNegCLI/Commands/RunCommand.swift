import ArgumentParser
import Foundation
import JobSpec
import Report

/// `adaneg run`: the embedded default.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job end to end on this machine: a coordinator on SQLite plus local worker processes.",
        discussion: """
        Running the same command again after an interruption resumes: completed units are kept \
        and only the rest is scored. The database defaults to .adaneg/<job name>.sqlite.
        """
    )

    @Argument(help: "The job spec (YAML).") var job: String
    @Option(help: "Worker processes (default: one per core; one with a GPU).") var workers: Int?
    @OptionGroup var deviceOptions: DeviceOptions
    @Option(name: .customLong("batch-size"), help: "Images per forward pass on the workers' GPU (default: what fits its memory).")
    var batchSize: Int?
    @Option(help: "SQLite database for the run.") var db: String?
    @Option(help: ArgumentHelp("Testing: milliseconds each worker sleeps per batch.", visibility: .hidden))
    var simulateBatchMs: Double = 0
    @Option(help: ArgumentHelp("Testing: workers abort when they lease this unit.", visibility: .hidden))
    var simulateCrashUnit: Int64?

    /// Out-of-range numbers are a user error (exit 2), checked before anything starts.
    func checkRanges() throws {
        if let workers, !(1...1024).contains(workers) { throw CommandFailure("--workers must be in 1...1024 (got \(workers))") }
        try DeviceOptions.checkBatchSize(batchSize)
        if !(simulateBatchMs.isFinite && (0...60_000).contains(simulateBatchMs)) {
            throw CommandFailure("--simulate-batch-ms must be in 0...60000 (got \(simulateBatchMs))")
        }
    }

    func run() async throws {
        try checkRanges()
        let gpu = try deviceOptions.preflight()
        let loaded = try JobLoading.load(job)
        let database = db ?? ".adaneg/\(loaded.name).sqlite"
        try OutputDirectory.create(URL(fileURLWithPath: database).deletingLastPathComponent().path)
        let spec = try JobPreparation.resolveNegatives(loaded,
                                                       directory: URL(fileURLWithPath: database).deletingLastPathComponent().path)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // One GPU is best fed by one worker: more would each hold a copy of the weights.
        let count = max(1, workers ?? (gpu == nil ? cores : 1))
        var run = EmbeddedRun(spec: spec, databasePath: database, workers: count, threadsPerWorker: max(1, cores / count))
        run.simulatedBatchMilliseconds = simulateBatchMs
        run.simulatedCrashUnit = simulateCrashUnit
        run.device = gpu?.description
        run.gpuBatchSize = gpu == nil ? nil : batchSize
        let outcome = try await run.run()
        print(try RunSummary.table(outcome), terminator: "")
        print(RunSummary.text(outcome))
        // The metrics above are complete but for the parked units; a script must still see
        // that the run did not go cleanly.
        if let first = outcome.killerUnits.first {
            throw CommandFailure("workers keep dying on unit \(first.unit): \(first.reason)")
        }
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

    static func text(_ o: EmbeddedRun.Outcome) -> String {
        var lines = [String]()
        let acc = o.report.sets.compactMap { $0.metrics["adaneg"]?.accuracy }
        if !acc.isEmpty { lines.append(String(format: "ID accuracy (AdaNeg prediction, mean over sets): %.2f%%", 100 * acc.reduce(0, +) / Double(acc.count))) }
        let errored = o.report.sets.reduce(0) { $0 + $1.errored }
        if errored > 0 { lines.append("\(errored) samples could not be scored (see adaneg status)") }
        if o.status.units.failed > 0 { lines.append("\(o.status.units.failed) units failed; their samples are missing from the metrics") }
        let killers = Dictionary(o.killerUnits.map { ($0.unit, $0.reason) }, uniquingKeysWith: { a, _ in a })
        for unit in o.status.failed.prefix(10) {
            if let reason = killers[unit.unit] {
                lines.append("  workers keep dying on unit \(unit.unit) (task \(unit.task)): \(reason); parked as failed after \(unit.attempts) attempts")
            } else {
                lines.append("  unit \(unit.unit) (task \(unit.task)) failed after \(unit.attempts) attempts: \(unit.error)")
            }
        }
        if o.status.failed.count > 10 { lines.append("  … and \(o.status.failed.count - 10) more (adaneg status)") }
        lines.append(String(format: "%d samples in %.1f s with %d workers.", o.status.results, o.seconds, o.workers))
        return lines.joined(separator: "\n")
    }
}
