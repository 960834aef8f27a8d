import AdaNeg
import Coordinator
import Foundation
import Hummingbird
import JobSpec
import Logging
import Report
import ServiceLifecycle
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

    struct Outcome {
        /// The same report `adaneg report` prints for this job.
        var report: JobReport
        var status: JobStatus
        var seconds: Double
        var workers: Int
    }

    func run() async throws -> Outcome {
        let started = Date()
        var logger = Logger(label: "adaneg.run")
        logger.logLevel = .warning
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(databasePath: databasePath, configuration: .init(leaseSeconds: leaseSeconds), logger: logger)
            let reply = try await coordinator.submit(spec)
            if !quiet {
                StandardError.write("\(reply.created ? "planned" : "resuming") job '\(reply.name)': \(reply.tasks) tasks, \(reply.units) units, \(reply.samples) samples (database \(databasePath))\n")
            }
        } catch {
            throw CommandFailure(error.description)
        }

        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try buildCoordinatorApplication(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0),
                                                  logger: logger, onRunning: { port in portContinuation.yield(port) })
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        let server = Task { try await group.run() }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CommandFailure("the embedded coordinator did not start") }

        let processes = try (0..<workers).map { try spawnWorker(index: $0, port: port) }
        let interrupt = InterruptSignal()
        let status: JobStatus
        do {
            status = try await monitor(coordinator, processes: processes, started: started, interrupt: interrupt)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await server.value
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await server.value

        let report: JobReport
        do {
            report = JobReport(try await ReportLoader.load(coordinator: coordinator, job: spec.name, source: "database \(databasePath)"))
        } catch {
            throw CommandFailure("\(error)")
        }
        return Outcome(report: report, status: status, seconds: Date().timeIntervalSince(started), workers: workers)
    }

    private func spawnWorker(index: Int, port: Int) throws -> Process {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["worker", "--coordinator", "http://127.0.0.1:\(port)", "--threads", "\(threadsPerWorker)",
                             "--id", "local-\(index)-\(ProcessInfo.processInfo.processIdentifier)",
                             "--simulate-batch-ms", "\(simulatedBatchMilliseconds)"]
        if quiet { process.standardError = FileHandle.nullDevice }
        do {
            try process.run()
        } catch {
            throw CommandFailure("cannot start worker process \(Self.executable.path): \(error.localizedDescription)")
        }
        return process
    }

    /// Polls until no unit is pending or leased and every worker has exited. On SIGINT or
    /// SIGTERM the workers are asked to stop (they release their units) and the run ends;
    /// running the same command again resumes.
    private func monitor(_ coordinator: Coordinator, processes: [Process], started: Date, interrupt: InterruptSignal) async throws -> JobStatus {
        let progress = ProgressLine(enabled: !quiet)
        while true {
            if interrupt.received {
                progress.finish()
                for p in processes where p.isRunning { p.terminate() }
                let deadline = Date().addingTimeInterval(30)
                while processes.contains(where: \.isRunning) && Date() < deadline {
                    try await Task.sleep(nanoseconds: 50_000_000)
                }
                for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
                let status = try await coordinatorStatus(coordinator)
                throw CommandFailure("interrupted with \(status.units.done) of \(status.units.total) units done; run the same command again to resume")
            }
            let status = try await coordinatorStatus(coordinator)
            progress.update(status, elapsed: Date().timeIntervalSince(started))
            let alive = processes.filter(\.isRunning).count
            if status.units.isFinished && alive == 0 {
                progress.finish()
                return status
            }
            if alive == 0 && !status.units.isFinished {
                progress.finish()
                throw CommandFailure("all workers exited with \(status.units.pending) units pending; re-run the same command to resume")
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
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

/// Catches SIGINT and SIGTERM for the lifetime of a run, so the run can stop its workers
/// before it exits.
final class InterruptSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    private func set() { lock.lock(); flag = true; lock.unlock() }

    var received: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

/// A one-line progress display on a terminal (units, samples/s, ETA); silent otherwise.
final class ProgressLine: @unchecked Sendable {
    let enabled: Bool
    let isTerminal = isatty(2) != 0
    private var lastPrint = Date.distantPast

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ s: JobStatus, elapsed: Double) {
        guard enabled else { return }
        let rate = elapsed > 0 ? Double(s.results) / elapsed : 0
        let remaining = Double(s.samples - s.results)
        let eta = rate > 0 ? remaining / rate : 0
        let line = String(format: "units %d/%d (%d leased, %d failed)  %d/%d samples  %.0f samples/s  ETA %.0f s",
                          s.units.done, s.units.total, s.units.leased, s.units.failed, s.results, s.samples, rate, eta)
        if isTerminal {
            StandardError.write("\r\u{1B}[K" + line)
        } else if Date().timeIntervalSince(lastPrint) > 10 {
            StandardError.write(line + "\n")
            lastPrint = Date()
        }
    }

    func finish() {
        if enabled && isTerminal { StandardError.write("\n") }
    }
}

#if canImport(Glibc)
import Glibc
#endif
