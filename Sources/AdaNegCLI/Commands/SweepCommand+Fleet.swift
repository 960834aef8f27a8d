import AdaNeg
import Foundation
import JobClient
import JobProtocol
import JobSpec
import Platform
import Report

/// `sweep --coordinator URL`: the grid goes to a running coordinator, whose workers score it
/// (units of one task and a chunk of points, `POST /v1/sweeps`); this command follows the
/// progress until every unit is done, then assembles and prints the points exactly as
/// `sweep --db` does (`SweepPoint.assemble`, `SweepReport`). Run again, the same grid is the
/// same sweep: it resumes.
extension SweepCommand {
    func runOnFleet(_ url: URL) async throws {
        let format = ReportFormat(rawValue: format) ?? .table
        let output: OutputTarget?
        do { output = try Self.outputTarget(out, db: nil) } catch { throw CommandFailure(error.description) }
        let token = try connection.token(), caFile = try connection.checkedCAFile()
        // The submission answers at once, as `submit` does: a wrong URL or a coordinator that is
        // down is said now, not after minutes of silent retries. Once the sweep is accepted, a
        // long retry window: a coordinator restarting under a sweep of hours is ridden out.
        let submitter = CoordinatorClient(base: url, token: token, retryWindow: 0, timeout: 120, connectTimeout: 5, caFile: caFile)
        let client = CoordinatorClient(base: url, token: token, retryWindow: 120, timeout: 120, connectTimeout: 10, caFile: caFile)
        var status = try await Self.call(url) { try await submitter.submitSweep(SweepRequest(job: job, sets: sets, maxPoints: maxPoints)) }
        StandardError.write("sweep: \(status.created ? "submitted" : "resuming") sweep \(status.id) of job '\(status.job)' on \(url.absoluteString): "
                            + "\(Plural.count(status.points, "point")), \(Plural.count(status.units.total, "unit")) (\(status.units.done) done)\n")
        let progress = FleetProgress(start: status)
        while !status.units.isFinished {
            try await Task.sleep(nanoseconds: 1_000_000_000)
            let id = status.id
            status = try await Self.call(url) { try await client.sweepStatus(id: id) }
            progress.show(status)
        }
        progress.end()
        if status.units.failed > 0 {
            throw JobFailure("sweep \(status.id): \(Plural.count(status.units.failed, "unit")) failed on the fleet's workers, so the points are incomplete:\n  "
                             + status.failures.joined(separator: "\n  ") + "\nfix the cause and run the same command again: the failed units are tried again")
        }
        let id = status.id, jobID = status.jobID
        let stored = try await Self.call(url) { try await client.sweepResults(id: id) }
        let plan = try await Self.call(url) { try await client.plan(job: jobID) }
        let grid: SweepGrid
        do { grid = try SweepGrid(sets: sets, base: plan.scoring, maxPoints: maxPoints) } catch { throw CommandFailure(error.description) }
        let points = try Self.assemble(stored, proxy: plan.scoring.proxy.rawValue)
        try Self.write(SweepReport(job: stored.job, jobParams: plan.scoring, axes: grid.axes, points: grid.points.compactMap { points[$0.pointKey] }),
                       format: format, to: output)
    }

    /// The grid's points from what the coordinator stores: a finished point as it is, else its
    /// sets in the job's task order with their average, as `sweep --db` makes it.
    static func assemble(_ stored: SweepResults, proxy: String) throws -> [String: SweepPoint] {
        var out = [String: SweepPoint]()
        for p in stored.points {
            let key = p.params.pointKey
            if let text = p.result, let point = try? SweepPoint.decode(text) {
                out[key] = point
                continue
            }
            var byTask = [Int64: JobReport.SetReport]()
            for set in p.sets {
                do { byTask[set.task] = try SweepPoint.decodeSet(set.result) } catch {
                    throw JobFailure("sweep \(stored.id): the stored set of point \(key), task \(set.task) cannot be read: \(error)")
                }
            }
            let sets = stored.tasks.compactMap { byTask[$0] }
            guard sets.count == stored.tasks.count else {
                throw JobFailure("sweep \(stored.id): point \(key) has \(sets.count) of its \(stored.tasks.count) tasks scored")
            }
            out[key] = SweepPoint.assemble(p.params, sets: sets, proxy: proxy)
        }
        return out
    }

    /// One call to the coordinator; its refusals (400 naming the field, 404 unknown job, 409
    /// a job without stored features) and an unreachable coordinator exit 2 with its words.
    static func call<T>(_ url: URL, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ClientError {
            switch error {
            case let .http(status, message, _) where !message.isEmpty:
                throw CommandFailure("the coordinator at \(url.absoluteString) refused the sweep (\(status)): \(message)")
            default:
                throw CommandFailure(error.description)
            }
        }
    }
}

/// The fleet's progress on standard error: point-tasks done of those the sweep's units hold,
/// the rate and the ETA since this command started following (a redrawn line on a terminal,
/// a line per change otherwise).
final class FleetProgress {
    private let started = Date()
    private let terminal = isatty(2) != 0
    private let doneAtStart: Int
    private var lastDone: Int

    init(start: SweepStatus) {
        doneAtStart = start.pointTasksDone
        lastDone = start.pointTasksDone
    }

    func show(_ status: SweepStatus) {
        let elapsed = Date().timeIntervalSince(started)
        let scored = status.pointTasksDone - doneAtStart
        let rate = elapsed > 0 ? Double(scored) / elapsed : 0
        let left = status.pointTasks - status.pointTasksDone
        let eta = rate > 0 ? Double(left) / rate : .infinity
        let line = "sweep: \(status.pointTasksDone)/\(status.pointTasks) point-tasks, units \(status.units.done) done, \(status.units.leased) leased, "
            + "\(status.units.pending) pending" + (status.units.failed > 0 ? ", \(status.units.failed) failed" : "")
            + String(format: "  %.2f point-tasks/s  ", rate) + "ETA \(ProgressText.duration(eta))"
        if terminal {
            StandardError.redraw(line)
        } else if status.pointTasksDone != lastDone {
            StandardError.write(line + "\n")
        }
        lastDone = status.pointTasksDone
    }

    func end() { if terminal { StandardError.write("\n") } }
}
