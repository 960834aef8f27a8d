import Testing
import Tensor
@testable import AdaNeg

/// adaneg against the independent numpy transcription of the official implementation.
@Suite("Reference fixtures")
struct ReferenceFixtureTests {
    @Test("the fixture set is present and covers every mode")
    func coverage() throws {
        let cases = try Fixtures.scoringCases().map(Fixtures.loadScoring)
        #expect(cases.count >= 10)
        let params = cases.map(\.parameters)
        #expect(Set(params.map(\.proxy)) == Set(ProxyKind.allCases))
        #expect(Set(params.map(\.inScore)) == Set(InScoreMode.allCases))
        #expect(Set(params.map(\.replacement)) == Set(ReplacementPolicy.allCases))
        #expect(Set(params.map(\.variant)) == Set(GateVariant.allCases))
        #expect(Set(cases.map { $0.permutation == nil }) == [true, false])
        #expect(cases.contains { ($0.text.rows - $0.numID) % $0.parameters.groups != 0 })
        #expect(cases.contains { $0.image.rows % $0.parameters.batchSize != 0 })
        #expect(cases.contains { c in zip(c.bankCounts, c.bankCounts.indices).contains { $0.0 == c.parameters.memoryLength - 1 && $0.0 > 0 } })
    }

    @Test("per-sample scores equal the reference (|Δ| ≤ 1e-4, identical predictions and bank)", arguments: Fixtures.scoringCases())
    func scoring(name: String) throws {
        let c = try Fixtures.loadScoring(name)
        var scorer = try AdaNegScorer(
            text: c.text, numID: c.numID, parameters: c.parameters,
            permutation: c.permutation.map { .given($0) } ?? .none)
        let got = try scorer.scoreStream(c.image)
        try #require(got.count == c.expected.count)
        var worst = 0.0
        for (i, (g, e)) in zip(got, c.expected).enumerated() {
            #expect(g.pred == e.pred, "sample \(i): pred \(g.pred) vs \(e.pred)")
            let d = max(abs(Double(g.conf) - e.conf), abs(Double(g.confVanilla) - e.confVanilla), abs(Double(g.mcm) - e.mcm))
            worst = max(worst, d)
            #expect(d <= 1e-4, "sample \(i): conf \(g.conf) vs \(e.conf), S_nl \(g.confVanilla) vs \(e.confVanilla), mcm \(g.mcm) vs \(e.mcm)")
        }
        #expect(scorer.bank.counts == c.bankCounts)
        #expect(worst <= 1e-4)
    }

    @Test("metrics equal scikit-learn's (≤ 1e-6), ties included", arguments: Fixtures.metricCases())
    func metrics(name: String) throws {
        let c = try Fixtures.loadMetrics(name)
        let m = try OODMetrics.compute(conf: c.conf, labels: c.labels, pred: c.pred)
        #expect(abs(m.fpr95 - c.fpr95) <= 1e-6)
        #expect(abs(m.fpr95IDPositive - c.fpr95_id_positive) <= 1e-6)
        #expect(abs(m.auroc - c.auroc) <= 1e-6)
        #expect(abs(m.auprIn - c.aupr_in) <= 1e-6)
        #expect(abs(m.auprOut - c.aupr_out) <= 1e-6)
        #expect(abs(m.accuracy - c.acc) <= 1e-6)
        // Float scores (what the scorer emits) give the same figures: fixtures are float32-exact.
        let f = try OODMetrics.compute(conf: c.conf.map { Float($0) }, labels: c.labels, pred: c.pred)
        #expect(f == m)
    }
}
