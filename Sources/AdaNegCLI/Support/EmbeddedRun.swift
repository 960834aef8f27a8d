import AdaNeg
import Coordinator
import Foundation
import Hummingbird
import JobPlan
import JobProtocol
import JobSpec
import Logging
import Platform
import Report
import ServiceLifecycle
import Synchronization
import Worker

/// The embedded default: a coordinator in this process on a loopback port, N worker
/// processes, a progress line, and the metrics at the end. Re-running on the same database
/// resumes: the job is already planned, done units stay done.
struct EmbeddedRun {
    var spec: JobSpec
    var databasePath: String
    var workers: Int
    var threadsPerWorker: Int
    var leaseSeconds: Double = 30
    var quiet = false
    /// Passed to the workers (testing and demonstrations): milliseconds slept per batch.
    var simulatedBatchMilliseconds: Double = 0
    /// Testing: workers abort (SIGABRT) when they lease this unit, as a trap in a worker
    /// would, so the crash-loop handling can be exercised.
    var simulatedCrashUnit: Int64?
    /// `--device` for the workers (nil: the CPU, their default).
    var device: String?
    /// `--batch-size` for the workers' GPU (nil: they fit it to the memory).
    var gpuBatchSize: Int?
    /// The local workers' `--max-pixels` (nil: the job's `max_pixels`).
    var maxPixels: Int?
    /// Attempts before a unit is parked as failed.
    var maxAttempts = 3
    /// The banks' pull budget and staleness bounds (`--bank-*`, `BankPolicyOptions`).
    var banks = BankPolicy()
    /// The local workers' `--rows` (`WorkerRowsOptions`).
    var rows = RowsSource.auto

    struct Outcome {
        /// The same report `adaneg report` prints for this job.
        var report: JobReport
        var status: JobStatus
        var seconds: Double
        var workers: Int
        /// Units parked as failed because the worker processes on them kept dying, with the
        /// last death's reason.
        var killerUnits: [(unit: Int64, reason: String)] = []
    }

    func run() async throws -> Outcome {
        let started = Date()
        var logger = Logger(label: "adaneg.run")
        logger.logLevel = .warning
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(databasePath: databasePath,
                                          configuration: .init(leaseSeconds: leaseSeconds, maxAttempts: maxAttempts, parkExpiredLeases: true, banks: banks),
                                          models: CLIPModelFacts(), logger: logger)
            let reply = try await coordinator.submit(spec)
            if !quiet {
                StandardError.write("\(reply.created ? "planned" : "resuming") job '\(reply.name)': \(Plural.count(reply.tasks, "task")), \(Plural.count(reply.units, "unit")), \(Plural.count(reply.samples, "sample")) (database \(databasePath))\n")
            }
        } catch {
            throw CommandFailure(error.description)
        }

        // One service group: the HTTP server, the progress watch and the fleet, in that order,
        // so a graceful shutdown (SIGINT, SIGTERM, or the fleet's end) stops them in reverse:
        // the worker processes first (SIGTERM to each, which gives its unit back through the
        // server), then the watch, then the server. Each worker process is a service
        // (`WorkerProcess`), a child task of the fleet; past the deadline, cancellation (SIGKILL).
        let (ports, bound) = AsyncStream.makeStream(of: Int.self)
        let server: any Service
        do {
            server = try buildCoordinatorApplication(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0),
                                                     logger: logger, onRunning: { bound.yield($0); bound.finish() })
        } catch {
            throw CommandFailure("the embedded coordinator did not start: \(error)")
        }
        let fleet = Supervision { () async throws -> Fleet in
            // The workers need the port the server bound; a shutdown before it did ends the wait.
            guard let port = try await cancelWhenGracefulShutdown({ await ports.first { _ in true } }) else {
                throw CommandFailure("the embedded coordinator did not start")
            }
            return try await superviseWorkers(coordinator, port: port)
        }
        let watch = Supervision { () async throws in try await watchProgress(coordinator, started: started) }
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                       .init(service: watch, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup),
                       .init(service: fleet, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        configuration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: configuration)
        let supervised: Result<(status: JobStatus, deaths: [Int64: String]), any Error>
        do {
            try await group.run()
            supervised = try await .success(outcome(coordinator, fleet: fleet))
        } catch {
            supervised = .failure([fleet.failure, watch.failure].compactMap { $0 }.first ?? error)
        }
        let (status, deaths) = try supervised.get()

        let report: JobReport
        do {
            report = JobReport(try ReportLoader.load(databasePath: databasePath, job: spec.name))
        } catch {
            throw CommandFailure("\(error)")
        }
        // Parked because its workers died: seen dying in this run, or recorded so by an earlier
        // run (its supervisor's reason) or by lease expiries, so a re-run reports it the same way.
        let killers = status.failed.compactMap { unit -> (unit: Int64, reason: String)? in
            if let reason = deaths[unit.unit] { return (unit.unit, reason) }
            let diedBefore = unit.error.hasPrefix("worker process ") || unit.error.hasPrefix("its lease expired ")
            return diedBefore ? (unit.unit, unit.error) : nil
        }
        return Outcome(report: report, status: status, seconds: Date().timeIntervalSince(started), workers: workers, killerUnits: killers)
    }

    static var workerPrefix: String { "local-\(ProcessInfo.processInfo.processIdentifier)-" }

    /// A local worker process, configured, not started.
    private func makeWorker(index: Int, port: Int) -> WorkerProcess {
        let process = Process()
        let id = Self.workerPrefix + "\(index)"
        process.executableURL = Self.executable
        process.arguments = ["worker", "--coordinator", "http://127.0.0.1:\(port)", "--threads", "\(threadsPerWorker)",
                             "--id", id, "--simulate-batch-ms", "\(simulatedBatchMilliseconds)", "--rows", rows.rawValue,
                             // The worker exits when this process is gone, even by kill -9.
                             "--parent-pid", "\(getpid())"]
            + (simulatedCrashUnit.map { ["--simulate-crash-unit", "\($0)"] } ?? [])
            + (device.map { ["--device", $0] } ?? [])
            + (gpuBatchSize.map { ["--batch-size", "\($0)"] } ?? [])
            + (maxPixels.map { ["--max-pixels", "\($0)"] } ?? [])
        // The parent already said what it had to say about the BLAS kernel: not once more per worker.
        process.environment = BLASKernelCheck.childEnvironment
        if quiet { process.standardError = FileHandle.nullDevice }
        return WorkerProcess(id: id, process: process)
    }

    /// What the local workers did: the units their deaths took with them, and whether the run
    /// was interrupted (SIGINT or SIGTERM) rather than ending with its workers.
    struct Fleet: Sendable {
        var deaths: [Int64: String]
        var interrupted: Bool
    }

    /// Runs the worker processes until each has exited. A worker that dies (a signal, a non-zero
    /// exit) fails the units it held, which parks a unit after `maxAttempts`, and is replaced
    /// while work remains: a unit that kills every worker ends as failed instead of stranding
    /// the job. Workers that keep dying before any work end the run (the others are killed:
    /// leaving the task group cancels them).
    private func superviseWorkers(_ coordinator: Coordinator, port: Int) async throws -> Fleet {
        try await withThrowingTaskGroup(of: WorkerProcess.self) { group in
            var deaths = WorkerDeaths()
            var next = 0
            func start() {
                let worker = makeWorker(index: next, port: port)
                next += 1
                group.addTask {
                    try await worker.run()
                    return worker
                }
            }
            for _ in 0..<workers { start() }
            while let worker = try await group.next() {
                guard let ending = worker.ending, let death = WorkerDeaths.death(of: worker.id, ending) else { continue }
                let outcome: [(unit: Int64, state: UnitState)]
                do {
                    outcome = try await coordinator.workerDied(death.id, reason: death.reason)
                } catch {
                    throw CommandFailure("\(error)")
                }
                deaths.record(death, units: outcome.map(\.unit))
                if !quiet {
                    let units = outcome.map { "unit \($0.unit) \($0.state == .failed ? "parked as failed" : "returned to pending")" }
                    StandardError.write("\n\(death.reason)\(units.isEmpty ? "" : "; " + units.joined(separator: ", "))\n")
                }
                if let reason = deaths.dyingBeforeWork {
                    throw CommandFailure("worker processes keep dying before they finish a unit: \(reason)")
                }
                if !Task.isShuttingDownGracefully, try await !coordinatorStatus(coordinator).units.isFinished { start() }
            }
            // Shutting down here, before the fleet's own end shut the group down: a signal.
            return Fleet(deaths: deaths.units, interrupted: Task.isShuttingDownGracefully)
        }
    }

    /// Redraws the progress line until the fleet ends. The database's disk full (or failing)
    /// stops the run: the workers' results would only be refused and retried. `run` owns its
    /// coordinator, so it stops with the cause; what is stored is kept and the same command
    /// resumes.
    private func watchProgress(_ coordinator: Coordinator, started: Date) async throws {
        let progress = ProgressLine(enabled: !quiet)
        defer { progress.finish() }
        while !Task.isShuttingDownGracefully {
            if let failure = await coordinator.storageFailure {
                throw CommandFailure("\(failure); the run stopped (`adaneg serve` would wait for space): free space and run the same command again to resume")
            }
            let status = try await coordinatorStatus(coordinator)
            progress.update(status, elapsed: Date().timeIntervalSince(started))
            // Cancelled by the fleet's end (graceful shutdown): the watch ends with it.
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: 200_000_000) }
            } catch {
                break
            }
        }
    }

    /// The run's outcome once its services ended: the job finished, or why it stopped.
    private func outcome(_ coordinator: Coordinator, fleet: Supervision<Fleet>) async throws -> (status: JobStatus, deaths: [Int64: String]) {
        guard case let .success(workers)? = fleet.result else { throw CommandFailure("the run ended before its workers started") }
        let status = try await coordinatorStatus(coordinator)
        if status.units.isFinished { return (status, workers.deaths) }
        if workers.interrupted {
            throw CommandFailure("interrupted with \(status.units.done) of \(Plural.count(status.units.total, "unit")) done; run the same command again to resume")
        }
        throw CommandFailure("all workers exited with \(Plural.count(status.units.pending, "unit")) pending; re-run the same command to resume")
    }

    private func coordinatorStatus(_ coordinator: Coordinator) async throws -> JobStatus {
        do {
            return try await coordinator.status(job: spec.name)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    static var executable: URL {
        let link = URL(fileURLWithPath: "/proc/self/exe")
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path) {
            return URL(fileURLWithPath: resolved)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0])
    }
}

/// One piece of work run as a service, keeping its result: how `run` lets ServiceLifecycle
/// deliver SIGINT and SIGTERM (as graceful shutdown) to its supervision loop.
final class Supervision<Value: Sendable>: Service, Sendable {
    private let body: @Sendable () async throws -> Value
    private let stored = Mutex<Result<Value, any Error>?>(nil)

    init(_ body: @escaping @Sendable () async throws -> Value) {
        self.body = body
    }

    /// What the body returned or threw; nil until it ended.
    var result: Result<Value, any Error>? { stored.withLock { $0 } }

    /// What the body threw, if it did.
    var failure: (any Error)? { if case let .failure(error)? = result { error } else { nil } }

    func run() async throws {
        let outcome: Result<Value, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        stored.withLock { $0 = outcome }
        if case let .failure(error) = outcome { throw error }
    }
}

/// A one-line progress display on a terminal (units, samples/s, ETA); silent otherwise.
final class ProgressLine: @unchecked Sendable {
    let enabled: Bool
    let isTerminal = isatty(2) != 0
    private var lastPrint = Date.distantPast

    init(enabled: Bool) { self.enabled = enabled }

    /// Results already stored when this run started (a resumed run): they were not scored
    /// in this run's time, so they do not count towards its rate.
    private var baseline: Int?

    func update(_ s: JobStatus, elapsed: Double) {
        guard enabled else { return }
        let line = Self.line(s, elapsed: elapsed, baseline: &baseline)
        if isTerminal {
            StandardError.redraw(line)
        } else if Date().timeIntervalSince(lastPrint) > 10 {
            StandardError.write(line + "\n")
            lastPrint = Date()
        }
    }

    /// The progress text: no rate or ETA until this run has scored something (an ETA of 0 s
    /// before any work, or a resumed run's stored results divided by a second, mislead).
    static func line(_ s: JobStatus, elapsed: Double, baseline: inout Int?) -> String {
        let first = baseline ?? s.results
        baseline = first
        let scored = s.results - first
        let head = String(format: "units %d/%d (%d leased, %d failed)  %d/%d samples",
                          s.units.done, s.units.total, s.units.leased, s.units.failed, s.results, s.samples)
        guard scored > 0, elapsed > 0 else { return head + "  ETA —" }
        let rate = Double(scored) / elapsed
        let eta = Double(max(0, s.samples - s.results)) / rate
        return head + String(format: "  %.0f samples/s  ETA %.0f s", rate, eta)
    }

    func finish() {
        if enabled && isTerminal { StandardError.write("\n") }
    }
}

#if canImport(Glibc)
import Glibc
#endif
