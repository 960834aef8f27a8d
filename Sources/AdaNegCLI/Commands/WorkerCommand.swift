import ArgumentParser
import Coordinator
import Foundation
import Logging
import ServiceLifecycle
import Tensor
import Worker

/// `adaneg worker`: one worker process.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Lease work units from a coordinator, score them, sync the memory bank, until no work is left.",
        discussion: "SIGTERM or Ctrl-C releases the current unit and exits; another worker picks it up."
    )

    @Option(help: "Coordinator URL, e.g. http://10.0.0.5:7878") var coordinator: String
    @Option(name: .customLong("token-file"), help: "File holding the coordinator's bearer token.") var tokenFile: String?
    @Option(help: "BLAS threads for this worker (0: OpenBLAS' default).") var threads: Int = 0
    @Option(help: "Worker id (default: host-pid).") var id: String?
    @Flag(help: "Keep waiting for new work instead of exiting when none is left.") var forever = false
    @Option(help: "Benchmarks: sleep this many milliseconds per batch (a no-op embedder).") var simulateBatchMs: Double = 0

    func run() async throws {
        guard let url = URL(string: coordinator), url.scheme == "http" || url.scheme == "https" else {
            throw CommandFailure("--coordinator '\(coordinator)' is not an http(s) URL")
        }
        BLAS.setThreads(threads)
        if threads > 0 { NeuralKernels.activeProcessorCount = threads }
        let host = ProcessInfo.processInfo.hostName
        let workerID = id ?? "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
        let client = CoordinatorClient(base: url, token: try TokenFile.read(tokenFile))
        let worker = Worker(client: client, options: WorkerOptions(id: workerID, host: host, forever: forever,
                                                                   simulatedBatchSeconds: simulateBatchMs / 1000))
        let logger = Logger(label: "adaneg.worker")
        let group = ServiceGroup(configuration: .init(services: [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            throw CommandFailure("worker \(workerID): \(error)")
        }
        let report = await worker.report
        StandardError.write(String(format: "worker %@: %d units, %d samples (%d images embedded, %d sample errors), %.1f%% of busy time waiting on the coordinator\n",
                                   workerID, report.units, report.samples, report.embedded, report.sampleErrors, 100 * report.waitShare))
    }
}
