import AdaNegCore
@testable import Coordinator
import Foundation
import JobProtocol
@testable import JobStore
import Logging
import Testing

/// GET routes and `/metrics` read on read-only connections of their own (`StoreReaders`),
/// never through the coordinator's actor and never able to write.
@Suite("Read-only connections")
struct ReadConnectionTests {
    @Test("the coordinator's reads see every write committed before them, on read-only connections to the same file")
    func readsSeeCommittedWrites() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reads-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path, logger: logger)
        let readers = try #require(coordinator.readers)
        #expect(readers.path == (await coordinator.databasePath))
        let job = try FeaturesJob(in: dir, shape: .init(classes: 10, negatives: 40, dimension: 16, idSamples: 128, oodSamples: 64),
                                  kinds: [.uncovered], batchSize: 64, unitBatches: 1)
        let submitted = try await coordinator.submit(try job.spec())
        #expect(try await coordinator.jobs().map(\.name) == ["test-job"])
        #expect(try await coordinator.status(job: "test-job").units.pending == submitted.units)

        let grant = try #require(try await coordinator.lease(worker: "w", host: "h").grant)
        #expect(try await coordinator.status(job: "test-job").units.leased == 1)
        let results = UnitResults([SampleResult](repeating: .failed("unreadable"), count: grant.count))
        let outcome = try await coordinator.complete(unit: grant.unit, CompletionRequest(worker: "w", attempt: grant.attempt, results: results,
                                                                                         computeSeconds: 0, waitSeconds: 0))
        #expect(outcome == .accepted)
        let status = try await coordinator.status(job: "test-job")
        #expect(status.units.done == 1 && status.units.leased == 0 && status.results == grant.count)
        #expect(try await coordinator.results(task: grant.task).count == grant.count)
        #expect(try await coordinator.totals().results == grant.count)

        // The connections are read-only: a write through one is refused, and changes nothing.
        #expect(throws: StoreError.self) {
            try readers.read { r throws(StoreError) in try r.db.execute("DELETE FROM results") }
        }
        #expect(try await coordinator.results(task: grant.task).count == grant.count)
    }

    @Test("an in-memory coordinator, which no other connection can see, reads through its writer")
    func inMemoryReadsThroughWriter() async throws {
        let coordinator = try Coordinator(databasePath: ":memory:")
        #expect(coordinator.readers == nil)
        #expect(try await coordinator.jobs().isEmpty)
        await #expect(throws: StoreError.self) { _ = try await coordinator.status(job: "none") }
    }
}
