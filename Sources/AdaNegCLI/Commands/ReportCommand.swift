import ArgumentParser
import Foundation
import JobClient
import JobPlan
import JobProtocol
import Platform
import Report

/// `adaneg report`: OOD metrics of a job's stored results, per OOD set and averaged, for every
/// method computed in the same pass.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Report a job's OOD metrics (MCM, NegLabel, AdaNeg) per OOD set and averaged.",
        discussion: """
        table: the paper's Table 1 layout (OOD sets as column groups, FPR95/AUROC) plus every \
        metric and the sample counts; json: everything, including the job spec and hyperparameters; \
        csv: one row per set (or mean) and method; md: Markdown; html: one self-contained file with \
        ROC curves and score histograms. A job that is still running is reported as far as it got, \
        marked partial.

        --compare-sequential (with --db): re-scores each task's stored features as one sequential \
        stream with the job's hyperparameters and reports, per OOD set, FPR95 and AUROC of the \
        distributed result against the sequential one; the other proxy is added as an extra method, \
        labelled as re-scored sequentially.
        """
    )

    @Option(help: "Read the coordinator's database directly.") var db: String?
    @OptionGroup var connection: CoordinatorOptions
    @Option(help: "table, json, csv, md or html.") var format: String = "table"
    @Option(help: "Write the report to this file instead of standard output.") var out: String?
    @Flag(name: .customLong("compare-sequential"), help: "Re-score the stored features sequentially and report the difference (needs --db).")
    var compareSequential = false
    @Argument(help: "Job name.") var job: String

    func validate() throws {
        if (connection.coordinator == nil) == (db == nil) { throw ValidationError("give exactly one of --coordinator and --db") }
        if compareSequential && db == nil {
            throw ValidationError("--compare-sequential needs --db: it re-scores the stored features, which the coordinator's HTTP API does not serve")
        }
        if ReportFormat(rawValue: format) == nil {
            throw CommandFailure("--format: unknown format '\(format)': use one of \(ReportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let format = ReportFormat(rawValue: format) ?? .table
        // Checked before the (possibly long) load; the database and its side files are inputs.
        let output: OutputTarget?
        do { output = try ReportOutput.target(out, inputs: inputs) } catch { throw CommandFailure(error.description) }
        let data: ReportData
        var sequential: SequentialRun?
        do {
            if let db {
                let store = try ReportLoader.open(databasePath: db)
                data = try ReportLoader.load(store: store, job: job, source: "database \(db)")
                if compareSequential { sequential = try SequentialRescore.run(store: store, data: data) }
            } else {
                let url = try connection.requiredURL()
                data = try await Self.fetch(CoordinatorClient(base: url, token: try connection.token(), retryWindow: 0, timeout: 15, connectTimeout: 5, caFile: try connection.checkedCAFile()),
                                            job: job, source: "coordinator \(url.absoluteString)")
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
        var report = JobReport(data)
        if let sequential { report.addSequential(sequential, data: data) }
        let text: String
        do {
            text = try report.render(format, data: data)
        } catch {
            throw CommandFailure("rendering the report: \(error)")
        }
        do {
            try ReportOutput.write(text, to: output)
        } catch {
            throw CommandFailure(error.description)
        }
        if report.progress.partial, out != nil || format != .table {
            let u = report.progress.units
            let state = switch u.state {
            case .failed: "failed (every unit failed, \(Plural.count(u.total, "unit")))"
            case .finishedWithFailures: "finished with failures (\(u.failed) of \(Plural.count(u.total, "unit")) failed)"
            case .cancelled: "was cancelled (\(u.cancelled) of \(Plural.count(u.total, "unit")) dropped)"
            case .running, .complete: "is not finished"
            }
            StandardError.warn("job \(job) \(state): the report is partial (\(report.progress.results)/\(Plural.count(report.progress.samples, "sample")))")
        }
    }

    /// What `--out` must never replace: the database, its SQLite side files and lock, the token.
    private var inputs: [OutputTarget.Input] {
        var inputs = [OutputTarget.Input]()
        if let db { inputs += ["", "-wal", "-shm", "-journal", ".lock"].map { OutputTarget.Input(db + $0, flag: "--db") } }
        if let tokenFile = connection.tokenFile { inputs.append(.init(tokenFile, flag: "--token-file")) }
        if let caFile = connection.caFile { inputs.append(.init(caFile, flag: "--ca-file")) }
        return inputs
    }

    /// The same data over HTTP: status, plan and each task's results. The coordinator does not
    /// serve the spec text or units per task, so those are absent from the report.
    static func fetch(_ client: CoordinatorClient, job: String, source: String) async throws -> ReportData {
        let status = try await client.status(job: job)
        guard let jobID = status.tasks.first?.job else { throw CommandFailure("job \(job) has no tasks") }
        let plan = try await client.plan(job: jobID)
        var tasks = [TaskData]()
        for t in status.tasks.sorted(by: { $0.oodIndex < $1.oodIndex }) {
            tasks.append(TaskData(task: t, results: try await client.results(job: job, task: t.id).results))
        }
        return ReportData(jobName: status.job, jobID: jobID, createdAt: nil, specYAML: nil, plan: plan, tasks: tasks,
                          units: status.units, failedUnits: status.failed, workers: status.workers, source: source)
    }
}
