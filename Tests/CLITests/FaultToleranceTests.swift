import AdaNeg
import Coordinator
import Foundation
import JobClient
import JobPlan
import JobProtocol
import JobStore
import NPY
import Testing
import Worker

/// Real processes on loopback: workers and the coordinator killed with SIGKILL mid-job.
@Suite("Fault tolerance", .serialized)
struct FaultToleranceTests {
    /// 1,000 samples in 10 units; every batch sleeps 120 ms, as embedding would cost.
    func writeJob(_ s: Scratch) throws -> String {
        let data = SyntheticBenchmark(shape: .init(classes: 10, negatives: 50, dimension: 16, idSamples: 600, oodSamples: 400), seed: 4)
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 16, to: s.path("text.npy"))
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: 16, to: s.path("id.npy"))
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: s.path("id-labels.npy"))
        let ood = data.oodSets[0].features
        try NPYFile.writeMatrix(ood.storage, rows: ood.rows, cols: 16, to: s.path("ood.npy"))
        let yaml = """
        name: faults
        id: {num_classes: 10, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood.npy}
        negatives: {count: 50, text_features: text.npy}
        scoring: {batch_size: 50, memleng: 4}
        unit_batches: 2
        """
        try yaml.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        return s.path("job.yaml")
    }

    func submit(_ job: String, to server: ServerProcess) throws {
        let result = try CLI.run(["submit", "--coordinator", server.url.absoluteString, job])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// Every position of every task has exactly one result, and the database is intact.
    func verifyComplete(db: String) async throws {
        let coordinator = try Coordinator(databasePath: db)
        let status = try await coordinator.status(job: "faults")
        #expect(status.units.done == status.units.total)
        #expect(status.results == status.samples)
        for task in status.tasks {
            let positions = try await coordinator.results(task: task.id).map(\.position)
            #expect(positions == Array(0..<task.sampleCount))
        }
        #expect(try await coordinator.integrityCheck() == "ok")
    }

    @Test("a worker killed with SIGKILL mid-unit loses nothing: its lease expires and another worker finishes")
    func workerKilled() async throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let server = try await ServerProcess(db: s.path("db.sqlite"), leaseSeconds: 3)
        defer { server.stop() }
        try submit(job, to: server)
        let client = CoordinatorClient(base: server.url, retryWindow: 5)
        let victim = try WorkerProcess(coordinator: server.url, id: "victim", batchMilliseconds: 120)
        defer { victim.stop() }
        try await Wait.until(90, "the victim to finish a unit and hold another") {
            let st = try await client.status(job: "faults")
            return st.units.done >= 1 && st.units.leased >= 1
        }
        victim.kill9()
        let before = try await client.status(job: "faults")
        #expect(before.units.leased == 1) // the killed worker's unit
        let survivor = try WorkerProcess(coordinator: server.url, id: "survivor", batchMilliseconds: 20)
        defer { survivor.stop() }
        try await Wait.until(60, "the survivor to finish the job") { !survivor.isRunning }
        let after = try await client.status(job: "faults")
        #expect(after.expiredLeases >= 1)
        server.stop()
        try await verifyComplete(db: s.path("db.sqlite"))
    }

    @Test("the coordinator killed with SIGKILL and restarted on the same database finishes the job without redoing done units")
    func coordinatorKilled() async throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let db = s.path("db.sqlite")
        var server = try await ServerProcess(db: db, leaseSeconds: 5)
        let port = server.port
        try submit(job, to: server)
        let client = CoordinatorClient(base: server.url, retryWindow: 5)
        let workers = try (0..<2).map { try WorkerProcess(coordinator: server.url, id: "w\($0)", batchMilliseconds: 120) }
        defer { workers.forEach { $0.stop() } }
        try await Wait.until(30, "two units to be done") { try await client.status(job: "faults").units.done >= 2 }
        server.kill9()

        // Read-only, so the restarted coordinator below can take the database's write lock.
        let reader = try StoreReader(readingAt: db)
        let snapshot = try reader.tasks(job: 1)
        var doneBefore = [Int64: Double]()
        for task in snapshot {
            for u in try reader.units(task: task.id) where u.state == .done {
                doneBefore[u.id] = u.completedAt
            }
        }
        #expect(doneBefore.count >= 2)

        server = try await ServerProcess(db: db, port: port, leaseSeconds: 5)
        defer { server.stop() }
        try await Wait.until(90, "the workers to finish after the restart") { workers.allSatisfy { !$0.isRunning } }
        server.stop()
        try await verifyComplete(db: db)
        let coordinator = try Coordinator(databasePath: db)
        for task in snapshot {
            for u in try await coordinator.units(task: task.id) where doneBefore[u.id] != nil {
                #expect(u.completedAt == doneBefore[u.id], "unit \(u.id) was completed again after the restart")
            }
        }
    }

    @Test("SIGTERM makes a worker release its unit and exit cleanly; status shows the job")
    func gracefulShutdown() async throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let server = try await ServerProcess(db: s.path("db.sqlite"), leaseSeconds: 60)
        defer { server.stop() }
        try submit(job, to: server)
        let client = CoordinatorClient(base: server.url, retryWindow: 5)
        let worker = try WorkerProcess(coordinator: server.url, id: "polite", batchMilliseconds: 150)
        defer { worker.stop() }
        try await Wait.until(30, "a unit to be leased") { try await client.status(job: "faults").units.leased == 1 }
        // While it holds a unit of the job, status lists it with the job.
        let working = try CLI.run(["status", "--coordinator", server.url.absoluteString, "faults"])
        #expect(working.status == 0 && working.stdout.contains("job faults:") && working.stdout.contains("worker polite"), "\(working.stdout)")
        worker.terminate()
        try await Wait.until(30, "the worker to exit") { !worker.isRunning }
        #expect(worker.exitStatus == 0)
        // With 60 s leases, only a release explains a unit that is no longer leased.
        let after = try await client.status(job: "faults")
        #expect(after.units.leased == 0 && after.units.pending > 0)
        // Released, it did nothing for the job: status lists only the workers of the job.
        let text = try CLI.run(["status", "--coordinator", server.url.absoluteString, "faults"])
        #expect(text.status == 0 && text.stdout.contains("job faults:") && !text.stdout.contains("polite"), "\(text.stdout)")
        let finisher = try WorkerProcess(coordinator: server.url, id: "finisher", batchMilliseconds: 0)
        defer { finisher.stop() }
        try await Wait.until(60, "the job to finish") { !finisher.isRunning }
        server.stop()
        try await verifyComplete(db: s.path("db.sqlite"))
    }
}
