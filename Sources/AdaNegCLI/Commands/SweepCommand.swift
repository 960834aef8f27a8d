import AdaNeg
import ArgumentParser
import Foundation
import JobSpec
import JobStore
import Platform
import Report

/// `adaneg sweep`: a grid of scoring configurations over a job's stored features, without
/// embedding anything and without touching the job's results.
struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Score a job's stored features for every point of a grid of scoring parameters (ablations, tuning).",
        discussion: """
        Each --set NAME=V1,V2,… (or NAME=FROM:TO:STEP, both ends included, or a mix) sweeps one \
        scoring parameter of the job spec, under its job key: \(ScoringParameter.allCases.map(\.key).joined(separator: ", ")). \
        The grid is their Cartesian product, every other parameter at the job's value. Every point \
        scores every task sequentially, as one worker syncing every batch would, so a point equals \
        `rescore --workers 1` with the same values. Nothing is embedded and the job's results are \
        never changed.

        Each finished task of a point is stored in the database (table sweep_sets), and the point \
        when its last task is (sweep_points): run the same command again after an interruption \
        and only what is missing is scored. A database that is \
        read-only or in use by another process (a running `serve`) still works; the points are \
        then not stored, and the command says so. A job whose image features were dropped \
        (keep_features: false) cannot be swept.

        With --coordinator URL instead of --db, the grid goes to a running coordinator \
        (POST /v1/sweeps) and the workers of its fleet score it, in units of one task and a few \
        points, when no job unit is waiting; the command shows progress until every unit is done \
        and prints the points as --db does. Interrupted and run again, it resumes the same grid \
        (units done stay done). The coordinator keeps the results in sweep_sets.

        Output: table (sorted by AdaNeg's mean FPR95, the job's own configuration marked), json \
        ({"job", "points": [{"params", "sets", "average"}]}; sets and average as in \
        `report --format json`), csv, md, or html (heat maps, line plots, best point per metric).
        """
    )

    @Option(help: "The database of the job (or --coordinator).") var db: String?
    @Argument(help: "Name of the job to sweep.") var job: String
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("A scoring parameter and its values: NAME=V1,V2,… or NAME=FROM:TO:STEP (repeatable).", valueName: "NAME=VALUES"))
    var sets: [String] = []
    @Option(name: .customLong("max-points"), help: "The most points the grid may have.")
    var maxPoints: Int = SweepGrid.defaultMaxPoints
    @OptionGroup var workerCount: WorkerCountOptions
    @Option(help: "table, json, csv, md or html.") var format: String = "table"
    @Option(help: "Write the result to this file instead of standard output.") var out: String?
    /// `--coordinator URL` (with `--token-file`, `--ca-file`): the fleet scores the grid.
    @OptionGroup var connection: CoordinatorOptions

    func validate() throws {
        if ReportFormat(rawValue: format) == nil {
            throw CommandFailure("--format: unknown format '\(format)': use one of \(ReportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        // Every argument is checked before the database is opened or the coordinator called:
        // a bad --set writes nothing.
        try checkGrid()
        if let url = try connection.url() {
            if db != nil { throw CommandFailure("give --db DB (score here) or --coordinator URL (the fleet scores), not both") }
            if workerCount.workers != nil { throw CommandFailure("--workers is for sweep --db; with --coordinator the fleet's workers score the grid") }
            return try await runOnFleet(url)
        }
        guard let db else { throw CommandFailure("give --db DB (score here) or --coordinator URL (the fleet scores)") }
        let threads = try workerCount.count(default: ProcessInfo.processInfo.activeProcessorCount)
        let format = ReportFormat(rawValue: format) ?? .table
        let output: OutputTarget?
        do { output = try Self.outputTarget(out, db: db) } catch { throw CommandFailure(error.description) }

        // Read and check everything through a read-only connection first (a job refused
        // leaves the file as it was); the writer, which stores points, is opened afterwards.
        let inputs: SweepInputs
        let grid: SweepGrid
        do {
            let reader = try Self.reader(db)
            do { inputs = try SweepInputs.load(store: reader, job: job) } catch { throw CommandFailure(error.description) }
            do { grid = try SweepGrid(sets: sets, base: inputs.plan.scoring, maxPoints: maxPoints) } catch { throw CommandFailure(error.description) }
            try Self.checkAgainstJob(grid, inputs: inputs)
        }
        let (store, writer, readOnlyReason) = try Self.open(db)
        if let readOnlyReason {
            StandardError.warn("\(db) \(readOnlyReason): the points are scored but not stored (running this again scores them again)")
        }

        let points = grid.points
        var results = [String: SweepPoint]()
        var storedSets = [String: [Int64: JobReport.SetReport]]()
        do {
            for (key, text) in try store.sweepPoints(job: inputs.jobID) { results[key] = try? SweepPoint.decode(text) }
            for (key, sets) in try store.sweepSets(job: inputs.jobID) {
                for (task, text) in sets { storedSets[key, default: [:]][task] = try? SweepPoint.decodeSet(text) }
            }
        } catch {
            throw CommandFailure("\(db): reading the stored sweep points: \(error)")
        }
        var pending = [ScoringParameters]()
        var seen = Set<String>()
        for p in points where results[p.pointKey] == nil && seen.insert(p.pointKey).inserted { pending.append(p) }
        let reused = points.count - pending.count
        let partial = pending.reduce(0) { $0 + (storedSets[$1.pointKey]?.count ?? 0) }
        if reused > 0 || partial > 0 {
            StandardError.write("sweep: \(Plural.count(reused, "point")) of \(points.count) already stored in \(db)"
                + (partial > 0 ? ", and \(Plural.count(partial, "task")) of unfinished ones" : "") + "; scoring \(pending.count)\n")
        }
        // Points that share a batch size, groups and logit scale share each batch's static
        // half, so chunks keep them together and score them task by task; each task's sets
        // are stored as soon as they are done, and a point when its last task is.
        pending.sort { ($0.batchSize, $0.groups, $0.logitScale) < ($1.batchSize, $1.groups, $1.logitScale) }
        let budget = Int(min(UInt64(4) << 30, ProcessInfo.processInfo.physicalMemory / 3))
        let chunks = inputs.chunks(pending, budget: budget, minimum: threads)
        func todo(_ chunk: [ScoringParameters], task t: Int) -> [ScoringParameters] {
            chunk.filter { storedSets[$0.pointKey]?[inputs.tasks[t].id] == nil }
        }
        let total = chunks.reduce(0) { sum, chunk in
            sum + inputs.tasks.indices.reduce(0) { $0 + inputs.batchCount(task: $1, points: todo(chunk, task: $1)) }
        }
        let progress = SweepProgress(points: pending.count, samplesPerPoint: inputs.samplesPerPoint, batches: total)
        for chunk in chunks {
            for t in inputs.tasks.indices {
                let task = inputs.tasks[t].id
                let remaining = todo(chunk, task: t)
                guard !remaining.isEmpty else { continue }
                let sets: [JobReport.SetReport]
                do {
                    sets = try inputs.scoreTask(t, points: remaining, threads: threads) { done, _ in progress.batches(done: done) }
                } catch {
                    throw CommandFailure(error.description)
                }
                progress.finishedBatches(inputs.batchCount(task: t, points: remaining))
                for (p, set) in zip(remaining, sets) { storedSets[p.pointKey, default: [:]][task] = set }
                if let writer, t < inputs.tasks.count - 1 {
                    do {
                        try writer.storeSweepSets(job: inputs.jobID, try zip(remaining, sets).map { ($0.pointKey, task, try SweepPoint.json(set: $1)) },
                                                  now: Date().timeIntervalSince1970)
                    } catch {
                        throw CommandFailure("\(db): storing the sweep points' sets: \(error)")
                    }
                }
            }
            let scored = chunk.map { p in inputs.point(p, sets: inputs.tasks.map { storedSets[p.pointKey]![$0.id]! }) }
            for p in scored { results[p.params.pointKey] = p }
            if let writer {
                do {
                    try writer.storeSweepPoints(job: inputs.jobID, try scored.map { ($0.params.pointKey, try $0.json()) },
                                                now: Date().timeIntervalSince1970)
                } catch {
                    throw CommandFailure("\(db): storing the sweep points: \(error)")
                }
            }
            progress.finished(chunk.count)
        }
        progress.end()

        try Self.write(SweepReport(job: inputs.jobName, jobParams: inputs.plan.scoring, axes: grid.axes,
                                   points: points.compactMap { results[$0.pointKey] }), format: format, to: output)
    }

    /// Renders the points in `format` to `output` (standard output when nil): both modes.
    static func write(_ report: SweepReport, format: ReportFormat, to output: OutputTarget?) throws {
        do {
            try ReportOutput.write(try report.render(format), to: output)
        } catch let error as ReportError {
            throw CommandFailure(error.description)
        } catch {
            throw CommandFailure("rendering the sweep: \(error)")
        }
    }

    /// The `--set`s and `--max-points` on their own (each value in its parameter's range), before
    /// the job is known; the job's own limits are checked against it later.
    func checkGrid() throws {
        guard !sets.isEmpty else {
            throw CommandFailure("give at least one --set NAME=V1,V2,… (NAME one of \(ScoringParameter.allCases.map(\.key).joined(separator: ", ")))")
        }
        guard maxPoints >= 1 else { throw CommandFailure("--max-points must be at least 1 (got \(maxPoints))") }
        do { _ = try SweepGrid(sets: sets, base: ScoringParameters(), maxPoints: maxPoints) } catch { throw CommandFailure(error.description) }
    }

    /// `--out`, checked before any work: an empty file or a previous sweep output may be
    /// replaced, never the database, its side files or anything else.
    static func outputTarget(_ path: String?, db: String?) throws(OutputError) -> OutputTarget? {
        guard let path, path != "-" else { return nil }
        let inputs = db.map { db in ["", "-wal", "-shm", "-journal", ".lock"].map { OutputTarget.Input(db + $0, flag: "--db") } } ?? []
        return try OutputTarget.file(path, flag: "--out", replacing: SweepOutput.replaceable, inputs: inputs)
    }

    /// The database read-only, to load and check the job before anything is written. A
    /// database from an older adaneg (readers do not migrate) is opened by the writer, which
    /// migrates it. A missing file is never created.
    static func reader(_ db: String) throws -> StoreReader {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: db, isDirectory: &isDirectory) else { throw CommandFailure("\(db): no such database") }
        if isDirectory.boolValue { throw CommandFailure("\(db): is a directory, not a database file") }
        do {
            return try StoreReader(readingAt: db)
        } catch {
            if error.description.contains("readers do not migrate"), case let (store, _, _)? = try? open(db) { return store }
            throw CommandFailure(error.description)
        }
    }

    /// The database for writing points when it can be; else read-only, with why.
    static func open(_ db: String) throws -> (StoreReader, StoreWriter?, String?) {
        // A file SQLite cannot write, or a folder where its lock cannot be made: read-only.
        let folder = URL(fileURLWithPath: db).deletingLastPathComponent().path
        let writable = FileManager.default.isWritableFile(atPath: db) && FileManager.default.isWritableFile(atPath: folder)
        var reason = "is read-only"
        if writable {
            do {
                let writer = try StoreWriter(path: db)
                return (writer, writer, nil)
            } catch let error as StoreError {
                switch error {
                case .inUse: reason = "is in use (\(error.description))"
                case .database(_, let message) where message.contains("readonly") || message.contains("read-only"):
                    reason = "is read-only (\(message))"
                default: throw CommandFailure(error.description)
                }
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        do {
            return (try StoreReader(readingAt: db), nil, reason)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// What the grid must fit besides each parameter's own range: the job's negatives.
    static func checkAgainstJob(_ grid: SweepGrid, inputs: SweepInputs) throws {
        do { try grid.checkAgainstJob(negatives: inputs.plan.labelCount - inputs.plan.numID) } catch { throw CommandFailure(error.description) }
    }
}

/// Points done, points/s and the ETA on standard error (one redrawn line on a terminal, a
/// line per finished chunk otherwise). The ETA comes from point-batches (every point's
/// batches over every task), the unit of work, since points finish a chunk at a time.
final class SweepProgress {
    private let started = Date()
    private let terminal = isatty(2) != 0
    private let points: Int
    private let samplesPerPoint: Int
    private let totalBatches: Int
    private var finishedPoints = 0
    private var finishedBatches = 0
    private var lastDrawn = Date.distantPast

    init(points: Int, samplesPerPoint: Int, batches: Int) {
        self.points = points
        self.samplesPerPoint = samplesPerPoint
        self.totalBatches = batches
    }

    /// Progress inside one task's scoring: `done` point-batches of it.
    func batches(done: Int) {
        guard terminal, Date().timeIntervalSince(lastDrawn) >= 0.5 else { return }
        lastDrawn = Date()
        StandardError.redraw(line(batches: finishedBatches + done))
    }

    /// One task's scoring is done: `count` point-batches (a line when not on a terminal,
    /// where a chunk of many points can take minutes).
    func finishedBatches(_ count: Int) {
        finishedBatches += count
        if !terminal { StandardError.write(line(batches: finishedBatches) + "\n") }
    }

    func finished(_ count: Int) {
        finishedPoints += count
        if terminal { StandardError.redraw(line(batches: finishedBatches)) } else { StandardError.write(line(batches: finishedBatches) + "\n") }
    }

    func end() { if terminal && points > 0 { StandardError.write("\n") } }

    private func line(batches done: Int) -> String {
        let elapsed = Date().timeIntervalSince(started)
        let fraction = totalBatches > 0 ? Double(done) / Double(totalBatches) : 1
        let pointsWorth = fraction * Double(points)
        let rate = elapsed > 0 ? pointsWorth / elapsed : 0
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : .infinity
        return String(format: "sweep: %d/%d points  %.2f points/s (%.0f samples/s)  ", finishedPoints, points, rate, rate * Double(samplesPerPoint))
            + "ETA \(ProgressText.duration(eta))"
    }
}
