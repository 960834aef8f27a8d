import Foundation
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One local worker process as a service (swift-service-lifecycle): `run` starts it and returns
/// when it has exited. Graceful shutdown (SIGINT or SIGTERM to `run`, or the run stopping)
/// sends it SIGTERM, on which the worker gives its unit back and exits; cancellation (the
/// group's shutdown deadline passed, or the run gave up) sends SIGKILL. No loop polls or kills
/// by hand: the process's own exit ends `run`.
final class WorkerProcess: Service, @unchecked Sendable {
    /// How the process ended.
    enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Stopped before it was started (the run was shutting down already).
        case notStarted
    }

    let id: String
    private let process: Process
    private enum State { case idle, running(pid_t), stopped }
    private let state = Mutex<State>(.idle)
    private let ended = Mutex<Ending?>(nil)

    /// `process` is configured (executable, arguments, environment) but not started.
    init(id: String, process: Process) {
        self.id = id
        self.process = process
    }

    /// How it ended; nil while it runs.
    var ending: Ending? { ended.withLock { $0 } }

    func run() async throws {
        let ending = try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (exit: CheckedContinuation<Ending, any Error>) in
                    process.terminationHandler = { p in
                        // Exited: no signal may reach its pid again (the number may be reused).
                        self.state.withLock { $0 = .stopped }
                        exit.resume(returning: p.terminationReason == .uncaughtSignal ? .signalled(p.terminationStatus) : .exited(p.terminationStatus))
                    }
                    do {
                        guard try start() else {
                            process.terminationHandler = nil
                            exit.resume(returning: .notStarted)
                            return
                        }
                    } catch {
                        process.terminationHandler = nil
                        exit.resume(throwing: error)
                    }
                }
            } onGracefulShutdown: { self.signal(SIGTERM) }
        } onCancel: { self.signal(SIGKILL) }
        ended.withLock { $0 = ending }
    }

    /// Starts the process unless a stop came first; whether it started.
    private func start() throws -> Bool {
        try state.withLock { state in
            if case .stopped = state { return false }
            do {
                try process.run()
            } catch {
                throw CommandFailure("cannot start worker process \(process.executableURL?.path ?? "?"): \(error.localizedDescription)")
            }
            state = .running(process.processIdentifier)
            return true
        }
    }

    /// Sends `signal` to the running process; before it started, keeps it from starting.
    private func signal(_ signal: Int32) {
        state.withLock { state in
            switch state {
            case let .running(pid): kill(pid, signal)
            case .idle: state = .stopped
            case .stopped: break
            }
        }
    }
}

/// The bookkeeping of a run's worker deaths: who died of what, which units went with them, and
/// whether the workers die before they do any work (replacing them again would loop).
struct WorkerDeaths {
    struct Death {
        var id: String
        var reason: String
    }

    /// Per unit, the reason of the last worker death on it.
    private(set) var units: [Int64: String] = [:]
    /// Consecutive deaths that took no unit with them.
    private var idle = 0
    private var last = ""

    /// The death a process's ending is, if it is one (a clean exit is not).
    static func death(of id: String, _ ending: WorkerProcess.Ending) -> Death? {
        switch ending {
        case .exited(0), .notStarted: return nil
        case let .exited(status): return Death(id: id, reason: "worker process \(id) exited with status \(status)")
        case let .signalled(signal):
            let name = strsignal(signal).map { String(cString: $0) } ?? "signal"
            return Death(id: id, reason: "worker process \(id) died of signal \(signal) (\(name))")
        }
    }

    mutating func record(_ death: Death, units held: [Int64]) {
        last = death.reason
        idle = held.isEmpty ? idle + 1 : 0
        for unit in held { units[unit] = death.reason }
    }

    /// Three deaths in a row without a unit: the reason, else nil.
    var dyingBeforeWork: String? { idle >= 3 ? last : nil }
}
