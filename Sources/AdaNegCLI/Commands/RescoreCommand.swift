import AdaNeg
import ArgumentParser
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
import Worker

/// `adaneg rescore`: score a stored job again with other hyperparameters, as a new result set.
struct RescoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rescore",
        abstract: "Re-score a job stored in a database with other hyperparameters; the result is a new job next to the original.",
        discussion: """
        The original spec is read from the database, the given hyperparameters replace its own, \
        and the new job (named <job>-rescore-<n> unless --name is given) runs with local workers \
        like `adaneg run`. Stored features are read again; nothing is embedded twice, except the \
        images of a job run with keep_features: false, whose features were dropped when it was \
        done: they are embedded again (the model and the images must still be there). \
        --name must not be the original job's, nor another job's with a different spec \
        (the same spec resumes an interrupted re-score). The database must not be in use by \
        another process (a running `serve`): stop it first. Exit status as for `adaneg run`: \
        0 done, 1 finished with failed units, 2 refused.
        """
    )

    @Option(help: "The database of the original run.") var db: String
    @Argument(help: "Name of the job to re-score.") var job: String
    @Option(help: "Name of the new job.") var name: String?
    @OptionGroup var workerCount: WorkerCountOptions
    @OptionGroup var banks: BankPolicyOptions
    @OptionGroup var rowsOptions: WorkerRowsOptions
    /// The hyperparameters to change; the rest stay the job's.
    @OptionGroup var scoring: ScoringOptions

    func run() async throws {
        if let workers = workerCount.workers { try WorkerCountOptions.check(workers) }
        guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("\(db): no such database") }
        let coordinator: Coordinator
        let original: JobSpec
        let existing: [JobRecord]
        do {
            coordinator = try Coordinator(databasePath: db, models: CLIPModelFacts())
            let record = try await coordinator.job(named: job)
            original = try JobSpecLoader.parse(yaml: record.specYAML, baseDirectory: "/", file: "\(db): job \(job)")
            // The original's inputs as submitted, or no re-score: other files would be scored
            // under the original's set names.
            do {
                try await InputDigests.shared.verify(try await coordinator.plan(job: record.id).recordedInputs)
            } catch let error as InputFileError {
                throw CommandFailure("cannot re-score '\(job)': \(error)")
            }
            existing = try await coordinator.jobs()
        } catch {
            throw CommandFailure("\(error)")
        }
        var spec = original
        let p = scoring.parameters(over: spec.scoring)
        let problems = p.problems()
        guard problems.isEmpty else { throw CommandFailure("invalid hyperparameters: " + problems.joined(separator: "; ")) }
        spec.scoring = p
        if let name, name == job {
            throw CommandFailure("--name '\(name)' is the job being re-scored: a re-score is a new job next to the original "
                + "in \(db); give another --name, or none for \(job)-rescore-<n>")
        }
        let names = Set(existing.map(\.name))
        spec.name = name ?? (1...).lazy.map { "\(job)-rescore-\($0)" }.first { !names.contains($0) } ?? "\(job)-rescore"
        if original.hasImages && !original.keepFeatures {
            StandardError.write("note: job '\(job)' ran with keep_features: false, so its image features were dropped: its images are embedded again\n")
        }
        let text = spec.canonicalYAML()
        do {
            spec = try JobSpecLoader.parse(yaml: text, baseDirectory: "/", file: spec.name)
        } catch {
            throw CommandFailure("\(error)")
        }
        // A job of that name with the same spec is this re-score, interrupted: running it
        // again resumes it. Any other job of that name is a clash, refused before any work.
        if let clash = existing.first(where: { $0.name == spec.name }), clash.specYAML != spec.canonicalYAML() {
            throw CommandFailure("--name '\(spec.name)': \(db) already has a job of that name with another spec "
                + "(other hyperparameters or inputs); give another --name")
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let count = try workerCount.count(default: cores)
        var run = EmbeddedRun(spec: spec, databasePath: db, workers: count, threadsPerWorker: max(1, cores / count))
        run.banks = try banks.policy()
        run.rows = try rowsOptions.source()
        let outcome = try await run.run()
        print("re-scored '\(job)' as '\(spec.name)'")
        print(try RunSummary.table(outcome), terminator: "")
        print(RunSummary.text(outcome))
        if let failure = RunSummary.failure(outcome) { throw failure }
    }
}
