import ArgumentParser
import Foundation
import JobPlan
import JobStore
import Report

/// `adaneg status`: progress of a job — units by state, throughput, ETA, workers.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a job's progress: units by state, samples/s, ETA, failed units, workers and their last heartbeat.",
        discussion: """
        The throughput is measured over the job's most recent completed units; the ETA covers the \
        pending and leased units at that rate. Workers: every worker the coordinator knows, with \
        the units it holds and has completed for this job.
        """
    )

    @OptionGroup var connection: CoordinatorOptions
    @Option(help: "Read the coordinator's database directly.") var db: String?
    @Flag(help: "Print the progress as JSON (the coordinator's /v1/jobs/{name}/progress).") var json = false
    @Argument(help: "Job name.") var job: String

    func validate() throws {
        if (connection.coordinator == nil) == (db == nil) { throw ValidationError("give exactly one of --coordinator and --db") }
    }

    func run() async throws {
        let progress: JobProgress
        do {
            if let db {
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("\(db): no such database") }
                progress = try StoreReader(readingAt: db).progress(job: job, now: Date().timeIntervalSince1970, expiredLeases: 0)
            } else {
                progress = try await Self.fetch(base: try connection.requiredURL(), job: job, token: try connection.token())
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(progress), as: UTF8.self))
        } else {
            print(ProgressText.render(progress))
        }
    }

    /// `GET /v1/jobs/{name}/progress`, once: status is a one-shot look, so no retries.
    static func fetch(base: URL, job: String, token: String?) async throws -> JobProgress {
        // The client's own timeouts sit above the 5-s deadline so that a silent coordinator is
        // always reported by the deadline, with one message, however the timers race.
        let client = CoordinatorClient(base: base, token: token, retryWindow: 0, timeout: 8, connectTimeout: 8)
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
                throw CommandFailure("the coordinator answered \(status): \(message)")
            case let .malformedReply(_, reason):
                throw CommandFailure("the coordinator's progress reply is malformed (is it an older adaneg?): \(reason)")
            }
        }
    }
}
