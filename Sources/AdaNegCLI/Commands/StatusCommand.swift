import ArgumentParser
import Foundation
import JobClient
import JobPlan
import JobProtocol
import JobStore
import Report

/// `adaneg status`: progress of a job — units by state, throughput, ETA, workers.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a job's progress: units by state, samples/s, ETA, failed units, workers and their last heartbeat.",
        discussion: """
        The throughput is measured over the job's most recent completed units; the ETA covers the \
        pending and leased units at that rate. Elapsed: from submission to now, or to the last \
        unit once the job is finished. Workers: those that hold or have completed units of this \
        job, with what they did for it; one not seen for longer than a lease period (the \
        coordinator's, or 60 s with --db) is marked gone. Names and messages from workers and \
        specs are printed with control characters escaped.
        """
    )

    @OptionGroup var connection: CoordinatorOptions
    @Option(help: "Read the coordinator's database directly.") var db: String?
    @Flag(help: "Print the progress as JSON (the coordinator's /v1/jobs/{name}/progress).") var json = false
    @Option(help: ArgumentHelp("Redraw every N seconds until the job is finished (or Ctrl-C).", valueName: "N"))
    var watch: Double?
    @Argument(help: "Job name.") var job: String

    /// Redraw periods `--watch` accepts: faster would only load the coordinator.
    static let watchRange = 0.5...3600.0

    func validate() throws {
        if (connection.coordinator == nil) == (db == nil) { throw ValidationError("give exactly one of --coordinator and --db") }
    }

    func run() async throws {
        if let watch, !(watch.isFinite && Self.watchRange.contains(watch)) {
            throw CommandFailure("--watch must be a number of seconds in \(Self.watchRange.lowerBound)...\(Self.watchRange.upperBound) (got \(watch))")
        }
        let terminal = isatty(1) != 0
        var first = true
        while true {
            let progress = try await look()
            if watch != nil && !first {
                // A terminal gets the screen redrawn in place; a pipe or file a separated block.
                print(terminal ? "\u{1B}[H\u{1B}[2J" : "", terminator: terminal ? "" : "\n")
            }
            first = false
            try show(progress)
            guard let watch, progress.remainingSamples > 0 else { return }
            fflush(nil)
            try await Task.sleep(nanoseconds: UInt64(watch * 1e9))
        }
    }

    /// The progress, once, from the database or the coordinator.
    func look() async throws -> JobProgress {
        let progress: JobProgress
        do {
            if let db {
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("\(db): no such database") }
                progress = try StoreReader(readingAt: db).progress(job: job, now: Date().timeIntervalSince1970, expiredLeases: 0)
            } else {
                progress = try await Self.fetch(base: try connection.requiredURL(), job: job, token: try connection.token(), caFile: try connection.checkedCAFile())
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
        return progress
    }

    func show(_ progress: JobProgress) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(progress), as: UTF8.self))
        } else {
            print(ProgressText.render(progress))
        }
    }

    /// `GET /v1/jobs/{name}/progress`, once: status is a one-shot look, so no retries.
    static func fetch(base: URL, job: String, token: String?, caFile: String? = nil) async throws -> JobProgress {
        // The client's own timeouts sit above the 5-s deadline so that a silent coordinator is
        // always reported by the deadline, with one message, however the timers race.
        let client = CoordinatorClient(base: base, token: token, retryWindow: 0, timeout: 8, connectTimeout: 8, caFile: caFile)
        do {
            // A hard deadline as well: a coordinator that accepted the connection but never
            // answers (a stopped process) must not hold the command.
            return try await Deadline.run(seconds: 5) { try await client.progress(job: job) }
        } catch is Deadline.Expired {
            throw CommandFailure("cannot reach the coordinator at \(base.absoluteString): timed out (no answer within 5 s)")
        } catch let error as ClientError {
            switch error {
            case let .unreachable(_, reason):
                throw CommandFailure("cannot reach the coordinator at \(base.absoluteString): \(reason)")
            case let .http(status, message, _):
                let said = message.isEmpty ? "(no message: is \(base.absoluteString) an adaneg coordinator?)" : message
                throw CommandFailure("the coordinator at \(base.absoluteString) answered \(status): \(said)")
            case let .malformedReply(_, reason):
                throw CommandFailure("the coordinator's progress reply is malformed (is it an older adaneg?): \(reason)")
            case .tls:
                throw CommandFailure(error.description)
            }
        }
    }
}
