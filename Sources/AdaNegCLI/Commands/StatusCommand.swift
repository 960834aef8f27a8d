import ArgumentParser
import Coordinator
import Foundation
import Worker

/// `adaneg status`: progress of a job.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a job's progress: units by state, results, failed units, workers."
    )

    @Option(help: "Coordinator URL.") var coordinator: String?
    @Option(help: "Read the coordinator's database directly.") var db: String?
    @Option(name: .customLong("token-file"), help: "File holding the coordinator's bearer token.") var tokenFile: String?
    @Argument(help: "Job name.") var job: String

    func validate() throws {
        if (coordinator == nil) == (db == nil) { throw ValidationError("give exactly one of --coordinator and --db") }
    }

    func run() async throws {
        let status: JobStatus
        do {
            if let db {
                guard FileManager.default.fileExists(atPath: db) else { throw CommandFailure("\(db): no such database") }
                status = try await Coordinator(databasePath: db).status(job: job)
            } else if let coordinator, let url = URL(string: coordinator) {
                status = try await CoordinatorClient(base: url, token: try TokenFile.read(tokenFile), retryWindow: 5).status(job: job)
            } else {
                throw CommandFailure("--coordinator is not a URL")
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
        print(StatusText.render(status))
    }
}

enum StatusText {
    static func render(_ s: JobStatus) -> String {
        let u = s.units
        var lines = [
            "job \(s.job): \(u.done)/\(u.total) units done, \(u.leased) leased, \(u.pending) pending, \(u.failed) failed; \(s.results)/\(s.samples) samples scored",
        ]
        for t in s.tasks {
            lines.append("  task \(t.id) \(t.oodName)\(t.oodGroup.map { " (\($0))" } ?? ""): \(t.sampleCount) samples, bank version \(t.bankVersion)")
        }
        for f in s.failed {
            lines.append("  failed unit \(f.unit) (task \(f.task)) after \(f.attempts) attempts: \(f.error)")
        }
        for w in s.workers {
            lines.append(String(format: "  worker %@ on %@: %d units, %d samples, last seen %.0f s ago", w.id, w.host, w.unitsDone, w.samplesDone, s.now - w.lastSeen))
        }
        if s.expiredLeases > 0 { lines.append("  leases expired since the coordinator started: \(s.expiredLeases)") }
        return lines.joined(separator: "\n")
    }
}
