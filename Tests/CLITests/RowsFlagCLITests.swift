import AdaNeg
import Coordinator
import Foundation
import JobProtocol
import Testing

/// `run --rows`: the local workers read their units' rows from the job's files or fetch them
/// from the coordinator, and score the same bits either way (issue 26 target a).
@Suite("Rows flag, command line")
struct RowsFlagCLITests {
    @Test("run --rows local and run --rows coordinator store bit-identical results")
    func localAndCoordinatorAgree() async throws {
        let s = try Scratch()
        let data = SyntheticBenchmark(shape: .init(classes: 10, negatives: 50, dimension: 16, idSamples: 300, oodSamples: 200), seed: 11)
        try DemoFiles.write(data, to: s)
        let yaml = """
        name: rows
        id: {num_classes: 10, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood-covered.npy}
        negatives: {count: 50, text_features: text.npy}
        scoring: {batch_size: 50, memleng: 4}
        unit_batches: 2
        """
        try yaml.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        var results = [String: [ResultRecord]]()
        for rows in ["local", "coordinator"] {
            let db = s.path("\(rows).sqlite")
            let run = try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", db, "--rows", rows])
            #expect(run.status == 0, "--rows \(rows): \(run.stderr)")
            #expect(!run.stderr.contains("--rows auto"), "\(run.stderr)")
            let coordinator = try Coordinator(databasePath: db)
            let status = try await coordinator.status(job: "rows")
            #expect(status.units.done == status.units.total && status.results == status.samples)
            results[rows] = try await coordinator.results(task: try #require(status.tasks.first).id).sorted { $0.position < $1.position }
        }
        let local = try #require(results["local"]), fetched = try #require(results["coordinator"])
        #expect(local.count == 500 && local.allSatisfy { $0.error == nil && $0.conf != nil })
        #expect(local.map { [$0.conf?.bitPattern, $0.mcm?.bitPattern, $0.adaptive?.bitPattern] }
                == fetched.map { [$0.conf?.bitPattern, $0.mcm?.bitPattern, $0.adaptive?.bitPattern] })
        #expect(local == fetched)
    }
}
