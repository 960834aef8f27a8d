@testable import Coordinator
import Foundation
import JobClient
import JobProtocol
import Logging
import Synchronization
import Testing
@testable import Worker

/// Backpressure at the lease door (`LeaseAdmission`, issue 26 target a): a busy coordinator
/// answers a lease with `retryAfter` instead of a unit, and workers wait that long.
@Suite("Lease admission", .serialized)
struct LeaseAdmissionTests {
    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    @Test("the wait grows with the requests in progress, is jittered in [0.5, 1.5) of its base and capped")
    func waits() throws {
        #expect(LeaseGate.wait(inProgress: 64, limit: 64, jitter: 0) == 0.025)
        #expect(abs(LeaseGate.wait(inProgress: 64, limit: 64, jitter: 0.999) - 0.07495) < 1e-9)
        #expect(LeaseGate.wait(inProgress: 640, limit: 64, jitter: 0.5) == 0.5)
        #expect(LeaseGate.wait(inProgress: 1_000_000, limit: 64, jitter: 0.9) == LeaseGate.longestWait)
        let gate = LeaseGate(limit: 2)
        #expect(gate.deferral() == nil)
        gate.enter()
        #expect(gate.deferral() == nil)
        gate.enter()
        let wait = try #require(gate.deferral())
        #expect(wait >= 0.025 && wait < 0.075)
        gate.leave()
        #expect(gate.deferral() == nil && gate.leasesDeferred == 1)
        let off = LeaseGate(limit: 0)
        for _ in 0..<10 { off.enter() }
        #expect(off.deferral() == nil)
    }

    @Test("a worker waits what the reply says: retryAfter clamped to 0...30 s, idlePoll without one")
    func replyWait() {
        #expect(LeaseResponse(grant: nil, finished: false).wait(idlePoll: 0.5) == 0.5)
        #expect(LeaseResponse(grant: nil, finished: false, retryAfter: 0.2).wait(idlePoll: 0.5) == 0.2)
        #expect(LeaseResponse(grant: nil, finished: false, retryAfter: -3).wait(idlePoll: 0.5) == 0)
        #expect(LeaseResponse(grant: nil, finished: false, retryAfter: 1e12).wait(idlePoll: 0.5) == LeaseResponse.longestRetry)
        #expect(LeaseResponse(grant: nil, finished: false, retryAfter: .infinity).wait(idlePoll: 0.5) == 0.5)
    }

    @Test("over HTTP: while the limit of requests is in progress a lease is deferred (no unit leased, nothing stored); below it the unit is granted; a worker waits out deferrals and finishes the job")
    func overHTTP() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-admission-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path, logger: Self.quiet)
        let job = try FeaturesJob(in: dir, shape: WorkerLoopTests.shape, kinds: [.covered], batchSize: 64, unitBatches: 2)
        let submitted = try await coordinator.submit(try job.spec())
        var options = ServerOptions(host: "127.0.0.1", port: 0)
        let gate = LeaseGate(limit: 1)
        options.leaseGate = gate
        let server = try await InProcessServer.start(coordinator: coordinator, options: options, logger: Self.quiet)
        do {
            let client = CoordinatorClient(base: URL(string: "http://127.0.0.1:\(server.port)")!, retryWindow: 5)
            gate.enter() // a request in progress: the limit
            let deferred = try await client.lease(worker: "w0", host: "h")
            #expect(deferred.grant == nil && !deferred.finished)
            let wait = try #require(deferred.retryAfter)
            #expect(wait >= 0.025 && wait < 0.075)
            #expect(try await coordinator.status(job: "test-job").units.leased == 0)
            gate.leave()
            let granted = try await client.lease(worker: "w0", host: "h")
            #expect(granted.grant != nil && granted.retryAfter == nil)
            _ = try await coordinator.release(unit: try #require(granted.grant).unit, worker: "w0")

            // A worker whose first leases are deferred (the gate held for a moment) waits and
            // then scores every unit.
            gate.enter()
            let holder = Task {
                try await Task.sleep(nanoseconds: 200_000_000)
                gate.leave()
            }
            let worker = Worker(client: client, options: WorkerOptions(id: "w1", host: "h", idlePoll: 0.01), logger: Self.quiet)
            try await worker.run()
            try await holder.value
            let status = try await coordinator.status(job: "test-job")
            #expect(status.units.done == status.units.total && status.results == submitted.samples)
            #expect(gate.leasesDeferred >= 2)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
