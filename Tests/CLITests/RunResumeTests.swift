import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobStore
import NPY
import Testing

/// `adaneg run`: the embedded default, interrupted and resumed.
@Suite("Embedded run")
struct RunResumeTests {
    @Test("an interrupted run resumes with the same command: nothing lost, done units kept")
    func interruptAndResume() async throws {
        let s = try Scratch()
        let data = SyntheticBenchmark(shape: .init(classes: 10, negatives: 50, dimension: 16, idSamples: 600, oodSamples: 400), seed: 8)
        try DemoFiles.write(data, to: s)
        let yaml = """
        name: resume
        id: {num_classes: 10, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood-covered.npy}
          - {name: near-id, features: ood-near-id.npy}
        negatives: {count: 50, text_features: text.npy}
        scoring: {batch_size: 50, memleng: 4}
        unit_batches: 2
        """
        try yaml.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        let db = s.path("run.sqlite")
        let arguments = ["run", s.path("job.yaml"), "--workers", "1", "--db", db, "--simulate-batch-ms", "100"]

        let first = Process()
        first.executableURL = CLI.executable
        first.arguments = arguments
        let errors = Pipe()
        first.standardOutput = FileHandle.nullDevice
        first.standardError = errors
        try first.run()
        try await Wait.until(60, "a few units to be done") {
            guard FileManager.default.fileExists(atPath: db) else { return false }
            // Read-only: the running `run` holds the database's write lock.
            let status = try? StoreReader(readingAt: db).status(job: "resume", now: 0, expiredLeases: 0)
            return (status?.units.done ?? 0) >= 3
        }
        first.interrupt()
        try await Wait.until(60, "the interrupted run to exit") { !first.isRunning }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(first.terminationStatus == 2)
        #expect(message.contains("run the same command again to resume"), "\(message)")

        // Read-only: a writer here would hold the database's lock and refuse the second run.
        let reader = try StoreReader(readingAt: db)
        let partial = try reader.status(job: "resume", now: 0, expiredLeases: 0)
        #expect(partial.units.leased == 0, "the worker released its unit")
        #expect(partial.units.done >= 3 && partial.units.done < partial.units.total)
        var doneBefore = [Int64: Double]()
        for task in partial.tasks {
            for u in try reader.units(task: task.id) where u.state == .done { doneBefore[u.id] = u.completedAt }
        }

        let second = try CLI.run(Array(arguments.dropLast(2)))
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("resuming job 'resume'"))
        #expect(second.stdout.contains("covered") && second.stdout.contains("AdaNeg"))
        let final = try await Coordinator(databasePath: db).status(job: "resume")
        #expect(final.units.done == final.units.total && final.results == final.samples)
        let reopened = try Coordinator(databasePath: db)
        for task in final.tasks {
            #expect(try await reopened.results(task: task.id).map(\.position) == Array(0..<task.sampleCount))
            for u in try await reopened.units(task: task.id) where doneBefore[u.id] != nil {
                #expect(u.completedAt == doneBefore[u.id], "unit \(u.id) was scored again")
            }
        }
    }
}

/// The `synthesize --layout job` files, written directly.
enum DemoFiles {
    static func write(_ data: SyntheticBenchmark, to s: Scratch) throws {
        let d = data.shape.dimension
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: d, to: s.path("text.npy"))
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: d, to: s.path("id.npy"))
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: s.path("id-labels.npy"))
        for (kind, features) in data.oodSets {
            try NPYFile.writeMatrix(features.storage, rows: features.rows, cols: d, to: s.path("ood-\(kind.rawValue).npy"))
        }
    }
}
