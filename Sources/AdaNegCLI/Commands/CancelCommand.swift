import ArgumentParser
import Foundation
import JobClient
import Platform

/// `adaneg cancel JOB`: stop a job on a coordinator.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a job on a coordinator: its units not yet done are dropped, the results already stored are kept.",
        discussion: """
        Workers holding one of its units learn it at their next call and move on to other jobs; \
        `status` shows the job as cancelled. Needs an admin token, or the submit token that \
        submitted the job. A job with nothing left to run (finished, or cancelled before) is left as it is.
        """
    )

    @OptionGroup var connection: CoordinatorOptions
    @Argument(help: "The job's name.") var job: String

    func run() async throws {
        let url = try connection.requiredURL()
        let client = CoordinatorClient(base: url, token: try connection.token(), retryWindow: 0, timeout: 30, connectTimeout: 5,
                                       caFile: try connection.checkedCAFile())
        do {
            let reply = try await client.cancel(job: job)
            if reply.droppedUnits == 0 {
                print("job '\(TerminalText.escaped(reply.name))' (#\(reply.job)) has no unit left to cancel (finished, or cancelled before): nothing changed")
            } else {
                print("cancelled job '\(TerminalText.escaped(reply.name))' (#\(reply.job)): \(Plural.count(reply.droppedUnits, "unit")) dropped; results already stored are kept")
            }
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
