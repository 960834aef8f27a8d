import AdaNeg
import Foundation
import JobPlan
import JobProtocol
import JobStore
import NPY
import Testing

/// Issue 22 item 6: a NaN or ±∞ in a feature row is that sample's error, named by row and
/// file; the rest of its unit is scored, nothing fails, and no NaN reaches the results.
@Suite("Non-finite feature rows")
struct NonFiniteRowsTests {
    @Test("NaN and ∞ rows in the ID and an OOD feature file: only those samples errored, the rest scored, the sequential re-score skips them too")
    func nonFiniteRows() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24),
                                      kinds: [.covered], batchSize: 8, unitBatches: 2)
            // Poison rows before submission (the digests recorded then are of these files).
            let oodPath = cluster.directory.appendingPathComponent("ood-covered.npy").path
            let idPath = cluster.directory.appendingPathComponent("id.npy").path
            var ood = try NPYFile.readMatrix(oodPath)
            ood.values[3 * ood.cols + 1] = .nan
            ood.values[7 * ood.cols] = -.infinity
            try NPYFile.writeMatrix(ood.values, rows: ood.rows, cols: ood.cols, to: oodPath)
            var id = try NPYFile.readMatrix(idPath)
            id.values[5 * id.cols + 4] = .infinity
            try NPYFile.writeMatrix(id.values, rows: id.rows, cols: id.cols, to: idPath)

            let submitted = try await cluster.coordinator.submit(try job.spec())
            _ = try await cluster.runWorkers(1)
            let status = try await cluster.coordinator.status(job: "test-job")
            #expect(status.units.done == status.units.total, "units failed: \(status.units)")

            let task = try #require(try await cluster.coordinator.tasks(job: submitted.job).first)
            let stream = try await cluster.coordinator.stream(task: task.id)
            let stored = try await cluster.coordinator.results(task: task.id)
            #expect(stored.count == 64)
            var bad = Set<Int>()
            for (p, (set, item)) in zip(stream.sets, stream.items).enumerated() {
                if (set == 1 && (item == 3 || item == 7)) || (set == 0 && item == 5) { bad.insert(p) }
            }
            #expect(bad.count == 3)
            for r in stored {
                if bad.contains(r.position) {
                    let set = stream.sets[r.position], item = stream.items[r.position]
                    let path = set == 0 ? idPath : oodPath
                    #expect(r.error == "row \(item) of \(path) is not finite (NaN or ±∞)", "position \(r.position): \(r.error ?? "scored")")
                } else {
                    #expect(r.error == nil, "position \(r.position): \(r.error ?? "")")
                    #expect(r.conf.map(\.isFinite) == true && r.mcm.map(\.isFinite) == true)
                }
            }

            // The sequential re-score (report --compare-sequential) leaves them out with the reason.
            let reader = try StoreReader(readingAt: cluster.directory.appendingPathComponent("db.sqlite").path)
            let features = try reader.streamFeatures(task: task.id)
            #expect(Set(features.missing.map(\.position)) == bad)
            #expect(features.missing.allSatisfy { $0.reason.contains("is not finite") })
            let finite = features.features.storage.allSatisfy { $0.isFinite }
            #expect(finite)
        }
    }
}
