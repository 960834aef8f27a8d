import ArgumentParser
import Foundation
import Platform
import JobClient
import JobPlan
import JobProtocol
import JobSpec
import Worker

/// `adaneg submit`: validate a job locally and hand it to a coordinator.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Validate a job spec and submit it to a coordinator.",
        discussion: "Every problem in the spec is listed at once; nothing is submitted unless the spec is valid. Paths must be valid on the coordinator's machine: workers fetch the files they lack from it by content, and get feature rows in their leases. Local image files need a shared file system; images by URL need none."
    )

    @OptionGroup var connection: CoordinatorOptions
    @Argument(help: "The job spec (YAML).") var job: String

    func validate() throws {
        if connection.coordinator == nil { throw ValidationError("Missing expected argument '--coordinator <coordinator>'") }
    }

    func run() async throws {
        // The flags first: a bad URL is named before any file is read or negative mined.
        let url = try connection.requiredURL()
        let directory = URL(fileURLWithPath: job).deletingLastPathComponent().standardizedFileURL.path
        // Mined negatives are written next to the spec: workers elsewhere must see them too.
        let spec = try JobPreparation.resolveNegatives(try JobLoading.load(job), directory: directory)
        // One try with a short connection timeout: an unreachable coordinator fails in
        // seconds with one line; planning a large job (checksumming the model, resolving every
        // image reference) may take a while, so the answer itself gets two minutes.
        let client = CoordinatorClient(base: url, token: try connection.token(), retryWindow: 0, timeout: 120, connectTimeout: 5, caFile: try connection.checkedCAFile())
        do {
            let reply = try await client.submit(yaml: spec.specText, baseDirectory: directory)
            print("\(reply.created ? "submitted" : "already submitted"): job '\(TerminalText.escaped(reply.name))' (#\(reply.job)): \(Plural.count(reply.tasks, "task")), \(Plural.count(reply.units, "unit")), \(Plural.count(reply.samples, "sample"))")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

enum JobLoading {
    /// Loads and validates a spec, turning its problems into one readable failure.
    /// A `model:` given as a Hub id is resolved (downloaded if needed) and pinned to its snapshot
    /// folder first, so validation sees a folder and the job keeps the commit it was submitted with.
    static func load(_ path: String) throws -> JobSpec {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        // The spec's own reader refuses a FIFO or a device by name; this early look never blocks.
        let text = (try? RegularFile.read(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        do {
            let spec = if let pinned = try ModelArgument.pinningModel(inSpec: text, baseDirectory: directory) {
                try JobSpecLoader.parse(yaml: pinned, baseDirectory: directory, file: path)
            } else {
                try JobSpecLoader.load(path: path)
            }
            for warning in spec.warnings { StandardError.warn("\(path): \(warning)") }
            return spec
        } catch let error as JobSpecError {
            var message = error.description
            if error.problems.contains(where: { $0.message.contains("not found") }), let hint = creationHint(path) {
                message += "\n" + hint
            }
            throw CommandFailure(message)
        }
    }

    /// When input files are missing and the spec's own comments hold the `adaneg` command that
    /// creates them (as `jobs/features-example.yaml` does), that command, ready to copy.
    static func creationHint(_ path: String) -> String? {
        guard let data = try? RegularFile.read(path), let text = String(data: data, encoding: .utf8) else { return nil }
        var command = [String]()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let body = line.drop { $0 == "#" || $0 == " " }
            guard line.hasPrefix("#") else { if !command.isEmpty { break } else { continue } }
            if command.isEmpty {
                if body.hasPrefix("adaneg ") && !body.hasPrefix("adaneg run") { command.append(String(body)) }
            } else if let last = command.last, last.hasSuffix("\\") {
                command.append("    " + body)
            } else {
                break
            }
        }
        guard !command.isEmpty else { return nil }
        return "The spec's comments say how to create its data:\n  " + command.joined(separator: "\n  ")
    }
}
