import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import Logging
import Tensor
import Testing
import Worker

/// Coordinator + workers over real HTTP on loopback, compared with the sequential scorer.
@Suite("Distributed runs", .serialized)
struct DistributedRunTests {
    static let kinds: [SyntheticBenchmark.OODKind] = [.covered, .uncovered]

    /// Sequential reference over the coordinator's stream of `task`.
    func sequential(_ job: FeaturesJob, cluster: TestCluster, task: Int64) async throws -> (scores: [SampleScore], labels: [Int]) {
        let stream = try await cluster.coordinator.stream(task: task)
        let features = job.features(sets: stream.sets, items: stream.items, kinds: Self.kinds).rowNormalized()
        let spec = try job.spec()
        var scorer = try AdaNegScorer(text: job.data.text.rowNormalized(), numID: job.data.shape.classes,
                                      parameters: spec.scoring, permutation: .seed(spec.seed))
        return (try scorer.scoreStream(features), stream.labels)
    }

    @Test("one worker syncing after every batch reproduces the sequential scorer", arguments: ProxyKind.allCases)
    func oneWorkerExact(proxy: ProxyKind) async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 20, negatives: 120, dimension: 32, idSamples: 600, oodSamples: 400),
                                      kinds: Self.kinds, batchSize: 64, unitBatches: 2, proxy: proxy)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            #expect(submitted.tasks == 2 && submitted.samples == 2000)
            let reports = try await cluster.runWorkers(1)
            #expect(reports[0].samples == 2000)
            for task in try await cluster.coordinator.tasks(job: submitted.job) {
                let stored = try await cluster.coordinator.results(task: task.id)
                let (expected, labels) = try await sequential(job, cluster: cluster, task: task.id)
                try #require(stored.count == expected.count)
                for (i, (r, e)) in zip(stored, expected).enumerated() {
                    #expect(r.position == i && r.label == labels[i])
                    #expect(r.pred == e.pred)
                    #expect(abs((r.conf ?? .nan) - e.conf) <= 1e-5, "position \(i): \(r.conf ?? .nan) vs \(e.conf)")
                    #expect(abs((r.confVanilla ?? .nan) - e.confVanilla) <= 1e-5)
                }
            }
            let status = try await cluster.coordinator.status(job: "test-job")
            #expect(status.units.done == status.units.total && status.results == 2000)
        }
    }

    /// One OOD set: all four workers share one task's stream. Three sets: the scheduler spreads
    /// workers over tasks first.
    @Test("four workers approximate the sequential run on every set (|ΔAUROC| ≤ 0.2, |ΔFPR95| ≤ 1 point)",
          arguments: [[SyntheticBenchmark.OODKind.uncovered], SyntheticBenchmark.OODKind.allCases])
    func fourWorkersApproximate(kinds: [SyntheticBenchmark.OODKind]) async throws {
        try await TestCluster.with() { cluster in
            let shape = SyntheticBenchmark.Shape(classes: 100, negatives: 1000, dimension: 64, idSamples: 10_000, oodSamples: 10_000)
            let job = try FeaturesJob(in: cluster.directory, shape: shape, kinds: kinds, batchSize: 256, unitBatches: 1, proxy: .task)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            let reports = try await cluster.runWorkers(4)
            #expect(reports.reduce(0) { $0 + $1.samples } == 20_000 * kinds.count)
            #expect(reports.filter { $0.units > 0 }.count == 4)
            for task in try await cluster.coordinator.tasks(job: submitted.job) {
                let stored = try await cluster.coordinator.results(task: task.id)
                let stream = try await cluster.coordinator.stream(task: task.id)
                let features = job.features(sets: stream.sets, items: stream.items, kinds: kinds).rowNormalized()
                var scorer = try AdaNegScorer(text: job.data.text.rowNormalized(), numID: shape.classes,
                                              parameters: try job.spec().scoring, permutation: .seed(5))
                let expected = try scorer.scoreStream(features)
                let distributed = try OODMetrics.compute(conf: stored.map { $0.conf ?? 0 }, labels: stored.map(\.label), pred: stored.map { $0.pred ?? 0 })
                let reference = try OODMetrics.compute(conf: expected.map(\.conf), labels: stream.labels, pred: expected.map(\.pred))
                let dAUROC = abs(distributed.auroc - reference.auroc) * 100
                let dFPR = abs(distributed.fpr95 - reference.fpr95) * 100
                print("four workers vs sequential on \(task.oodName): ΔAUROC \(dAUROC) points, ΔFPR95 \(dFPR) points (AUROC \(distributed.auroc) vs \(reference.auroc), FPR95 \(distributed.fpr95) vs \(reference.fpr95))")
                #expect(dAUROC <= 0.2, "\(task.oodName)")
                #expect(dFPR <= 1, "\(task.oodName)")
            }
        }
    }
}
