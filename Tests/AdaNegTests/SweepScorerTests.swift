import Foundation
import Testing
import Tensor
@testable import AdaNeg

/// `SweepScorer` (adaneg sweep's engine): every point equals one sequential scorer with the same
/// values, bit for bit, and the numpy reference on the points of `Fixtures/sweep`
/// (`tools/reference/make_sweep_fixtures.py`).
@Suite("Sweep scorer")
struct SweepScorerTests {
    struct SweepFixture: Decodable {
        var num_id: Int
        var points: [Point]
        struct Point: Decodable {
            var memleng: Int, thres: Double, gap: Double, beta: Double, lambda: Double, groups: Int, batch_size: Int
            var proxy: String, in_score: String, replacement: String, variant: String, logit_scale: Double
            var permuted: Bool
        }
    }

    static func load() throws -> (c: Fixtures.ScoringCase, points: [(ScoringParameters, Bool)], expected: [[(pred: Int, conf: Double, confVanilla: Double, mcm: Double)]]) {
        let dir = Fixtures.root.appendingPathComponent("sweep")
        let fixture = try JSONDecoder().decode(SweepFixture.self, from: Data(contentsOf: dir.appendingPathComponent("points.json")))
        let c = try Fixtures.loadScoring("defaults")
        var points = [(ScoringParameters, Bool)]()
        var expected = [[(pred: Int, conf: Double, confVanilla: Double, mcm: Double)]]()
        for (k, p) in fixture.points.enumerated() {
            var q = ScoringParameters()
            let values: [(ScoringParameter, String)] = [
                (.memleng, "\(p.memleng)"), (.thres, "\(p.thres)"), (.gap, "\(p.gap)"), (.beta, "\(p.beta)"), (.lambda, "\(p.lambda)"),
                (.groups, "\(p.groups)"), (.batchSize, "\(p.batch_size)"), (.proxy, p.proxy), (.inScore, p.in_score),
                (.replacement, p.replacement), (.variant, p.variant), (.logitScale, "\(p.logit_scale)"),
            ]
            for (parameter, text) in values { parameter.set(try parameter.parse(text).get(), in: &q) }
            points.append((q, p.permuted))
            let csv = try String(contentsOfFile: dir.appendingPathComponent("expected_\(k).csv").path, encoding: .utf8)
            expected.append(csv.split(separator: "\n").dropFirst().map { line in
                let f = line.split(separator: ",")
                return (Int(f[1])!, Double(f[2])!, Double(f[3])!, Double(f[4])!)
            })
        }
        return (c, points, expected)
    }

    /// The bound against the reference: its float64 re-derivation of the same decisions. adaneg
    /// computes logits in float32 (one GEMM, s = 100, |z| ≈ 30, where a float32 ulp is 1.9e-6),
    /// so a score moves by up to ~2e-6 from the float64 value; 1e-6 is below that rounding.
    /// Against `rescore` and the sequential scorer the sweep is exact (`equalsSequential`, and
    /// the CLI test against `rescore`).
    static let referenceBound = 3e-6

    @Test("every point equals the numpy reference (float64) within 3e-6 per sample, identical predictions")
    func reference() throws {
        let (c, points, expected) = try Self.load()
        #expect(points.count >= 10)
        // The fixture's points share a stream and vary the static half (batch size, groups) too.
        #expect(Set(points.map(\.0.batchSize)).count >= 2 && Set(points.map(\.0.groups)).count >= 2)
        let permuted = points.allSatisfy(\.1)
        #expect(permuted, "every fixture point uses the stream's permutation")
        let positions = Array(0..<c.image.rows)
        for threads in [1, 2] {
            let got = try SweepScorer.score(features: c.image, positions: positions, text: c.text, numID: c.numID,
                                            permutation: .given(try #require(c.permutation)), points: points.map(\.0), threads: threads)
            var worst = (conf: 0.0, vanilla: 0.0, mcm: 0.0)
            for (k, (scores, want)) in zip(got, expected).enumerated() {
                try #require(scores.count == want.count)
                for (i, (g, e)) in zip(scores, want).enumerated() {
                    #expect(g.pred == e.pred, "point \(k) sample \(i): pred \(g.pred) vs \(e.pred)")
                    worst.conf = max(worst.conf, abs(Double(g.conf) - e.conf))
                    worst.vanilla = max(worst.vanilla, abs(Double(g.confVanilla) - e.confVanilla))
                    worst.mcm = max(worst.mcm, abs(Double(g.mcm) - e.mcm))
                }
            }
            #expect(max(worst.conf, worst.vanilla, worst.mcm) <= Self.referenceBound, "worst |Δ| conf \(worst.conf), S_nl \(worst.vanilla), mcm \(worst.mcm)")
        }
    }

    @Test("every point equals a sequential scorer with the same values, bit for bit, whatever the thread count")
    func equalsSequential() throws {
        let data = SyntheticBenchmark(shape: .init(classes: 12, negatives: 60, dimension: 24, idSamples: 300, oodSamples: 200), seed: 3)
        let stream = data.stream(for: .uncovered, seed: 4)
        // Some positions have no feature (left out of their batch, as unreadable images are).
        let positions = (0..<stream.features.rows).filter { $0 % 17 != 5 }
        let features = stream.features.gatherRows(positions)
        var points = [ScoringParameters]()
        for memleng in [1, 3, 8] {
            for proxy in ProxyKind.allCases {
                for batchSize in [32, 50] {
                    var p = ScoringParameters()
                    (p.memoryLength, p.proxy, p.batchSize, p.groups) = (memleng, proxy, batchSize, memleng == 3 ? 4 : 5)
                    p.variant = memleng == 8 ? .adagap : .noadagap
                    p.inScore = memleng == 1 ? .multiply : .combine
                    points.append(p)
                    // The same point with other λ and in_score: one adaptive pass serves them all.
                    for (lambda, inScore) in [(0.5, InScoreMode.combine), (2, .adaonly), (0.1, .vanillaonly)] {
                        var q = p
                        (q.lambda, q.inScore) = (lambda, inScore)
                        points.append(q)
                    }
                }
            }
        }
        let text = data.text.rowNormalized()
        for threads in [1, 3] {
            let got = try SweepScorer.score(features: features, positions: positions, text: text, numID: 12,
                                            permutation: .seed(9), points: points, threads: threads)
            for (k, p) in points.enumerated() {
                var scorer = try AdaNegScorer(text: text, numID: 12, parameters: p, permutation: .seed(9))
                var want = [SampleScore]()
                for range in SweepScorer.batches(positions: positions, batchSize: p.batchSize) {
                    want += scorer.finishBatch(try scorer.beginBatch(features.rows(range), positions: Array(positions[range])))
                }
                #expect(got[k] == want, "point \(k) (\(p.pointKey)) with \(threads) threads")
            }
        }
    }

    @Test("batches follow stream positions: a batch is the rows whose positions fall in one block of B")
    func batches() {
        #expect(SweepScorer.batches(positions: [0, 1, 2, 5, 6, 9], batchSize: 3) == [0..<3, 3..<4, 4..<5, 5..<6])
        #expect(SweepScorer.batches(positions: [0, 2, 3, 4, 8], batchSize: 4) == [0..<3, 3..<4, 4..<5])
        #expect(SweepScorer.batches(positions: [], batchSize: 3).isEmpty)
        #expect(SweepScorer.batches(positions: [4, 5], batchSize: 1) == [0..<1, 1..<2])
    }
}
