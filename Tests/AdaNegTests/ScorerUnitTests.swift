import Foundation
import Testing
import Tensor
@testable import AdaNeg

/// Checks of the scorer's pieces against direct, unoptimised computations.
@Suite("Scorer pieces")
struct ScorerUnitTests {
    static let data = SyntheticBenchmark(
        shape: .init(classes: 10, negatives: 37, dimension: 16, idSamples: 150, oodSamples: 90), seed: 2)

    /// `mean_g Σ_{i≤C} softmax([z_ID, z_group g])_i`, literally.
    func directGroupedScore(_ z: [Float], numID: Int, groups: Int, perm: [Int]) -> Double {
        let m = z.count - numID
        let kept = m - m % groups
        let negs = perm.map { z[numID + $0] }
        let k = kept / groups
        var total = 0.0
        for g in 0..<groups {
            let all = Array(z[0..<numID]).map(Double.init) + negs[g * k ..< (g + 1) * k].map(Double.init)
            let mx = all.max()!
            let e = all.map { Foundation.exp($0 - mx) }
            total += e[0..<numID].reduce(0, +) / e.reduce(0, +)
        }
        return total / Double(groups)
    }

    @Test("grouped score matches the literal softmax formula, with permutation and drop-remainder")
    func groupedScore() throws {
        let text = Self.data.text
        let kept = 37 - 37 % 5
        let perm = NegativePermutation.seeded(4, count: kept).indices
        let space = try LabelSpace(text: text, numID: 10, groups: 5, permutation: .given(perm))
        let (features, _) = Self.data.stream(for: .covered, seed: 1)
        let z = BLAS.matmulTransposed(features.rows(0..<40), text, alpha: 100)
        let zi = BLAS.matmulTransposed(features.rows(0..<40), space.internalText, alpha: 100)
        for i in 0..<40 {
            let expected = directGroupedScore(z.row(i), numID: 10, groups: 5, perm: perm)
            let got = zi.storage.withUnsafeBufferPointer { LogitSummary.of($0.baseAddress! + i * zi.cols, in: space) }
            #expect(abs(got.groupedScore - expected) < 1e-5)
        }
    }

    @Test("the Gram-matrix sample proxy equals the materialised weighted sum")
    func sampleProxyIdentity() throws {
        var p = ScoringParameters()
        p.batchSize = 30
        p.memoryLength = 5
        p.proxy = .sample
        var scorer = try AdaNegScorer(text: Self.data.text, numID: 10, parameters: p, permutation: .none)
        let (features, _) = Self.data.stream(for: .covered, seed: 7)
        _ = try scorer.scoreStream(features.rows(0..<120))
        let bank = scorer.bank
        #expect(bank.entryCount > 0)
        // Adaptive logits for the next batch, computed literally.
        let batch = features.rows(120..<150)
        let beta = p.effectiveBeta
        let z = BLAS.matmulTransposed(batch, scorer.space.internalText, alpha: 100)
        var cache = ProxyCache(proxy: .sample, rowCount: bank.rowCount, memoryLength: 5, dimension: 16)
        cache.refresh(rows: Array(0..<bank.rowCount), bank: bank, space: scorer.space)
        var fast = z
        cache.apply(features: batch, staticLogits: z, adaptive: &fast, bank: bank, space: scorer.space, logitScale: 100, beta: beta)
        for row in 0..<bank.rowCount where bank.counts[row] > 0 {
            let t = scorer.space.internalText.row(scorer.space.internalColumn[row])
            let members = [t] + bank.slots(ofRow: row).map { bank.feature(atPool: $0.poolIndex) }
            for i in 0..<batch.rows {
                let v = batch.row(i)
                var proxy = [Double](repeating: 0, count: 16)
                for m in members {
                    let sim = zip(v, m).reduce(0.0) { $0 + Double($1.0 * $1.1) }
                    let w = Foundation.exp(-Double(beta) * (1 - sim))
                    for x in 0..<16 { proxy[x] += w * Double(m[x]) }
                }
                let norm = proxy.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let expected = 100 * zip(v, proxy).reduce(0.0) { $0 + Double($1.0) * $1.1 } / norm
                #expect(abs(Double(fast[i, scorer.space.internalColumn[row]]) - expected) < 1e-3)
            }
        }
    }

    @Test("bad permutations and label counts are refused with a reason")
    func validation() {
        let text = Self.data.text
        #expect(throws: LabelSpace.Problem.permutation(.wrongLength(expected: 35, found: 3))) {
            try LabelSpace(text: text, numID: 10, groups: 5, permutation: .given([0, 1, 2]))
        }
        var dup = Array(0..<35)
        dup[4] = 3
        #expect(throws: LabelSpace.Problem.permutation(.notAPermutation(position: 4, value: 3))) {
            try LabelSpace(text: text, numID: 10, groups: 5, permutation: .given(dup))
        }
        #expect(throws: LabelSpace.Problem.permutationNotRead(file: "p.npy")) {
            try LabelSpace(text: text, numID: 10, groups: 5, permutation: .file("p.npy"))
        }
        #expect(throws: LabelSpace.Problem.numIDOutOfRange(numID: 47, labels: 47)) {
            try LabelSpace(text: text, numID: 47, groups: 5, permutation: .none)
        }
        #expect(throws: LabelSpace.Problem.tooFewNegatives(negatives: 2, groups: 5)) {
            try LabelSpace(text: text, numID: 45, groups: 5, permutation: .none)
        }
        var p = ScoringParameters()
        p.memoryLength = 0
        p.threshold = 2
        #expect(p.problems().count == 2)
    }

    @Test("seeded permutations are deterministic and valid")
    func seeded() throws {
        let a = NegativePermutation.seeded(9, count: 1000)
        #expect(a == NegativePermutation.seeded(9, count: 1000))
        #expect(a != NegativePermutation.seeded(10, count: 1000))
        _ = try NegativePermutation(indices: a.indices, expectedCount: 1000)
        #expect(!a.isIdentity && NegativePermutation.identity(count: 5).isIdentity)
    }

    @Test("the AdaGap window starts balanced and moves with the stream")
    func adagapWindow() {
        var w = AdaGapWindow()
        #expect(w.ratio == 0.5 && w.count == 200)
        var p = ScoringParameters()
        p.threshold = 0.5
        p.gap = 0.5
        #expect(w.gates(p) == (0.75, 0.25))
        for _ in 0..<200 { w.push(1) }
        #expect(w.ratio == 0.75)
        #expect(w.gates(p).ood == Float(0.5 - 0.75 * 0.5))
        for _ in 0..<20_000 { w.push(0) }
        #expect(w.count == AdaGapWindow.capacity && w.positives == 0)
        #expect(w.gates(p).id == Float(0.5 + 1.0 * 0.5))
    }
}
