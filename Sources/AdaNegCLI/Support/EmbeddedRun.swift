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
                                          configuration: .init(leaseSeconds: leaseSeconds, maxAttempts: maxAttempts, parkExpiredLeases: true),
                                          models: CLIPModelFacts(), logger: logger)
            let reply = try await coordinator.submit(spec)
            if !quiet {
                StandardError.write("\(reply.created ? "planned" : "resuming") job '\(reply.name)': \(Plural.count(reply.tasks, "task")), \(Plural.count(reply.units, "unit")), \(Plural.count(reply.samples, "sample")) (database \(databasePath))\n")
            }
        } catch {
            throw CommandFailure(error.description)
        }

        let server: InProcessServer
        do {
            server = try await InProcessServer.start(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0), logger: logger)
        } catch {
            throw CommandFailure("the embedded coordinator did not start: \(error)")
        }
        let port = server.port

        // The supervision runs as a service: SIGINT and SIGTERM reach it as ServiceLifecycle's
        // graceful shutdown, and it stops the workers before the run ends.
        let supervision = Supervision { () async throws -> (status: JobStatus, deaths: [Int64: String]) in
            let pool = try WorkerPool(count: workers) { index in try spawnWorker(index: index, port: port) }
            return (try await monitor(coordinator, pool: pool, started: started), pool.deaths)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: supervision, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        let supervised: Result<(status: JobStatus, deaths: [Int64: String]), any Error>
        do {
            try await group.run()
            supervised = supervision.result ?? .failure(CommandFailure("the run ended before its workers started"))
        } catch {
            supervised = .failure(supervision.result.flatMap { if case let .failure(e) = $0 { e } else { nil } } ?? error)
        }
        await server.stop()
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

    private func spawnWorker(index: Int, port: Int) throws -> (id: String, process: Process) {
        let process = Process()
        let id = Self.workerPrefix + "\(index)"
        process.executableURL = Self.executable
        process.arguments = ["worker", "--coordinator", "http://127.0.0.1:\(port)", "--threads", "\(threadsPerWorker)",
                             "--id", id, "--simulate-batch-ms", "\(simulatedBatchMilliseconds)",
                             // The worker exits when this process is gone, even by kill -9.
                             "--parent-pid", "\(getpid())"]
            + (simulatedCrashUnit.map { ["--simulate-crash-unit", "\($0)"] } ?? [])
            + (device.map { ["--device", $0] } ?? [])
            + (gpuBatchSize.map { ["--batch-size", "\($0)"] } ?? [])
            + (maxPixels.map { ["--max-pixels", "\($0)"] } ?? [])
        // The parent already said what it had to say about the BLAS kernel: not once more per worker.
        process.environment = BLASKernelCheck.childEnvironment
        if quiet { process.standardError = FileHandle.nullDevice }
        do {
            try process.run()
        } catch {
            throw CommandFailure("cannot start worker process \(Self.executable.path): \(error.localizedDescription)")
        }
        return (id, process)
    }

    /// Polls until no unit is pending or leased and every worker has exited. On SIGINT or
    /// SIGTERM the workers are asked to stop (they release their units) and the run ends;
    /// running the same command again resumes. A worker process that dies (a signal, a
    /// non-zero exit) fails the units it held, which parks a unit after `maxAttempts`, and is
    /// replaced while work remains: a unit that kills every worker ends as failed instead of
    /// stranding the job.
    private func monitor(_ coordinator: Coordinator, pool: WorkerPool, started: Date) async throws -> JobStatus {
        let progress = ProgressLine(enabled: !quiet)
        while true {
            if Task.isShuttingDownGracefully {
                progress.finish()
                await stop(pool)
                let status = try await coordinatorStatus(coordinator)
                throw CommandFailure("interrupted with \(status.units.done) of \(Plural.count(status.units.total, "unit")) done; run the same command again to resume")
            }
            for death in pool.collectDeaths() {
                let outcome: [(unit: Int64, state: UnitState)]
                do {
                    outcome = try await coordinator.workerDied(death.id, reason: death.reason)
                } catch {
                    throw CommandFailure(error.description)
                }
                pool.record(death, units: outcome.map(\.unit))
                if !quiet {
                    let units = outcome.map { "unit \($0.unit) \($0.state == .failed ? "parked as failed" : "returned to pending")" }
                    StandardError.write("\n\(death.reason)\(units.isEmpty ? "" : "; " + units.joined(separator: ", "))\n")
                }
                if let reason = pool.dyingBeforeWork {
                    progress.finish()
                    pool.killAll()
                    throw CommandFailure("worker processes keep dying before they finish a unit: \(reason)")
                }
            }
            // The database's disk is full (or failing): the workers' results would only be
            // refused and retried. `run` owns its coordinator, so it stops with the cause;
            // what is stored is kept and the same command resumes.
            if let failure = await coordinator.storageFailure {
                progress.finish()
                await stop(pool)
                throw CommandFailure("\(failure); the run stopped (`adaneg serve` would wait for space): free space and run the same command again to resume")
            }
            let status = try await coordinatorStatus(coordinator)
            progress.update(status, elapsed: Date().timeIntervalSince(started))
            if !status.units.isFinished && pool.needsReplacement {
                try pool.replaceDead()
            }
            let alive = pool.runningCount
            if status.units.isFinished && alive == 0 {
                progress.finish()
                return status
            }
            if alive == 0 && !status.units.isFinished {
                progress.finish()
                throw CommandFailure("all workers exited with \(Plural.count(status.units.pending, "unit")) pending; re-run the same command to resume")
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
    }

    /// Asks the workers to stop (they release their units), waits up to 30 s, then kills the rest.
    private func stop(_ pool: WorkerPool) async {
        pool.stopAll()
        let deadline = Date().addingTimeInterval(30)
        while pool.anyRunning && Date() < deadline {
            // Cancelled: no more waiting, the rest is killed.
            if (try? await Task.sleep(nanoseconds: 50_000_000)) == nil { break }
        }
        pool.killAll()
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

/// The embedded run's worker processes: who is running, who died of what, and replacements.
final class WorkerPool {
    struct Death {
        var id: String
        var reason: String
    }

    private let spawn: (Int) throws -> (id: String, process: Process)
    private var workers: [(id: String, process: Process, handled: Bool)] = []
    private var nextIndex = 0
    /// Dead workers waiting for a replacement.
    private var dead = 0
    /// Consecutive deaths that took no unit with them: the workers die before any work.
    private var idleDeaths = 0
    private var lastReason = ""
    /// Per unit, the reason of the last worker death on it.
    private(set) var deaths: [Int64: String] = [:]

    init(count: Int, spawn: @escaping (Int) throws -> (id: String, process: Process)) throws {
        self.spawn = spawn
        for _ in 0..<count { try start() }
    }

    private func start() throws {
        let (id, process) = try spawn(nextIndex)
        nextIndex += 1
        workers.append((id, process, false))
    }

    var runningCount: Int { workers.count { $0.process.isRunning } }
    var anyRunning: Bool { runningCount > 0 }
    var needsReplacement: Bool { dead > 0 }

    /// Three deaths in a row without a unit: replacing them again would loop.
    var dyingBeforeWork: String? { idleDeaths >= 3 ? lastReason : nil }

    /// Workers that ended abnormally since the last call (a clean exit is not a death).
    func collectDeaths() -> [Death] {
        var out = [Death]()
        for i in workers.indices where !workers[i].handled && !workers[i].process.isRunning {
            workers[i].handled = true
            let p = workers[i].process
            if p.terminationReason == .uncaughtSignal {
                let name = strsignal(p.terminationStatus).map { String(cString: $0) } ?? "signal"
                out.append(Death(id: workers[i].id, reason: "worker process \(workers[i].id) died of signal \(p.terminationStatus) (\(name))"))
            } else if p.terminationStatus != 0 {
                out.append(Death(id: workers[i].id, reason: "worker process \(workers[i].id) exited with status \(p.terminationStatus)"))
            }
        }
        return out
    }

    func record(_ death: Death, units: [Int64]) {
        dead += 1
        lastReason = death.reason
        idleDeaths = units.isEmpty ? idleDeaths + 1 : 0
        for unit in units { deaths[unit] = death.reason }
    }

    func replaceDead() throws {
        while dead > 0 {
            dead -= 1
            try start()
        }
    }

    func stopAll() { for w in workers where w.process.isRunning { w.process.terminate() } }
    func killAll() { for w in workers where w.process.isRunning { kill(w.process.processIdentifier, SIGKILL) } }
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
