import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

/// Each method's ACC uses its own prediction: the argmax of the ID logits for MCM and
/// NegLabel, AdaNeg's adaptive prediction for AdaNeg (issue 13: MCM's ACC used to be AdaNeg's,
/// and changed between identical distributed runs).
@Suite("Each method's own prediction")
struct OwnPredictionTests {
    @Test("the scorer's predStatic is the argmax of the ID logits")
    func scorerStatic() throws {
        let data = SyntheticBenchmark(shape: .init(classes: 6, negatives: 30, dimension: 16, idSamples: 40, oodSamples: 20), seed: 5)
        let text = data.text.rowNormalized()
        var scorer = try AdaNegScorer(text: text, numID: 6, parameters: ScoringParameters(), permutation: .seed(1))
        let features = data.idFeatures.rowNormalized()
        let scores = try scorer.scoreStream(features)
        for (i, s) in scores.enumerated() {
            let row = features.row(i)
            let logits = (0..<6).map { c in zip(row, text.row(c)).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            #expect(s.predStatic == logits.indices.max { logits[$0] < logits[$1] })
        }
    }

    @Test("the report computes MCM's and NegLabel's ACC from predStatic, AdaNeg's from pred")
    func reportUsesOwnPrediction() async throws {
        let job = try await SequentialJob(kinds: [.covered], shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 30, oodSamples: 10),
                                          batchSize: 8, unitBatches: 100)
        defer { job.remove() }
        let grant = try #require(try await job.coordinator.lease(worker: "w", host: "h").grant)
        let n = grant.count
        // AdaNeg predicts class 1 everywhere; the static prediction is always right.
        let results = UnitResults(pred: Array(repeating: 1, count: n), conf: (0..<n).map { Float($0) / Float(n) },
                                  confVanilla: (0..<n).map { Float($0) / Float(n) }, mcm: (0..<n).map { Float($0) / Float(n) },
                                  adaptive: Array(repeating: 0.5, count: n), errors: Array(repeating: nil, count: n),
                                  predStatic: grant.labels.map { max($0, 0) })
        _ = try await job.coordinator.complete(unit: grant.unit, CompletionRequest(worker: "w", attempt: grant.attempt, results: results,
                                                                                   computeSeconds: 1, waitSeconds: 0))
        let report = JobReport(try ReportLoader.load(databasePath: await job.coordinator.databasePath, job: "seq-job"))
        let set = try #require(report.sets.first)
        let ids = grant.labels.filter { $0 >= 0 }
        #expect(set.metrics["mcm"]?.accuracy == 1 && set.metrics["neglabel"]?.accuracy == 1)
        #expect(set.metrics["adaneg"]?.accuracy == Double(ids.count { $0 == 1 }) / Double(ids.count))
    }
}
