import Foundation
import Tensor
import Testing
@testable import NegMining

@Suite("NegMining")
struct NegMiningTests {
    struct SelectionFixture: Decodable {
        var m: Int
        var id: [[Float]]
        var nouns: [[Float]]
        var adjectives: [[Float]]
        var noun_eta: [Double]
        var adjective_eta: [Double]
        var selected_adjectives: [Int]
        var selected_nouns: [Int]
    }

    static func fixture() throws -> SelectionFixture {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/selection.json")
        return try JSONDecoder().decode(SelectionFixture.self, from: Data(contentsOf: url))
    }

    @Test("η and the selection equal the numpy reference (tools/reference/negmining_reference.py)")
    func selectionMatchesNumpy() throws {
        let f = try Self.fixture()
        let ids = Matrix(rowsOf: f.id)
        let nounEta = NegativeSelection.etas(candidates: Matrix(rowsOf: f.nouns), idFeatures: ids)
        let adjEta = NegativeSelection.etas(candidates: Matrix(rowsOf: f.adjectives), idFeatures: ids)
        for (got, want) in zip(nounEta, f.noun_eta) { #expect(abs(Double(got) - want) < 1e-6) }
        for (got, want) in zip(adjEta, f.adjective_eta) { #expect(abs(Double(got) - want) < 1e-6) }
        let selection = NegativeSelection.select(count: f.m, nounEtas: nounEta, adjectiveEtas: adjEta)
        #expect(selection.adjectives == f.selected_adjectives)
        #expect(selection.nouns == f.selected_nouns)
        #expect(selection.adjectives.count + selection.nouns.count == f.m)
    }

    @Test("η is the element at ⌊0.95·C⌋ of the ascending sort")
    func etaIndex() {
        #expect(NegativeSelection.eta((0..<20).map { Float($0) }.reversed()) == 19) // ⌊19.0⌋ = 19
        #expect(NegativeSelection.eta((0..<10).map { Float($0) }) == 9)           // ⌊9.5⌋ = 9
        #expect(NegativeSelection.eta((0..<1000).map { Float($0) }) == 950)
    }

    @Test("η by selection equals the sorted element bit for bit: random, repeated, constant, tiny and 1,000-long inputs")
    func etaBySelection() {
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001) / 1000 - 1
        }
        for count in [1, 2, 3, 5, 8, 19, 20, 21, 64, 999, 1000, 1001] {
            for kind in 0..<4 {
                let values: [Float] = (0..<count).map { i in
                    switch kind {
                    case 0: next()
                    case 1: Float(Int(next() * 3))          // few distinct values, many repeats
                    case 2: 0.25                              // all equal
                    default: Float(i % 7) * (i % 2 == 0 ? 1 : -1) // sawtooth
                    }
                }
                let sorted = values.sorted()
                let k = min(count - 1, Int((0.95 * Double(count)).rounded(.down)))
                #expect(NegativeSelection.eta(values).bitPattern == sorted[k].bitPattern, "count \(count) kind \(kind)")
                for j in Set([0, count / 2, count - 1]) {
                    var copy = values
                    let got = copy.withUnsafeMutableBufferPointer { NegativeSelection.orderStatistic(j, of: $0) }
                    #expect(got == sorted[j], "count \(count) kind \(kind) k \(j)")
                }
            }
        }
    }

    @Test("the split is proportional and ties keep candidate order")
    func split() {
        let s = NegativeSelection.select(count: 10, nounEtas: [0.5, 0.1, 0.1, 0.3, 0.2, 0.9, 0.0], adjectiveEtas: [0.4, 0.2, 0.2])
        #expect(s.adjectives == [1, 2, 0]) // ⌊10·3/10⌋ = 3 adjectives
        #expect(s.nouns == [6, 1, 2, 4, 3, 0, 5]) // 7 nouns: all of them, ascending η, ties by index
    }

    @Test("ID class names and adjectives that are also nouns are removed")
    func filtering() {
        let f = NegativeSelection.filter(nouns: ["tench", "rock", "blue"], adjectives: ["blue", "quick", "tench"], idClasses: ["tench"])
        #expect(f.nouns == ["rock", "blue"])
        #expect(f.adjectives == ["quick"])
    }

    @Test("WordNet 3.0 candidates: 59,123 nouns (without noun.animal and noun.food) and 14,045 adjectives")
    func wordNetCounts() throws {
        let c = try WordNetCandidates.load()
        #expect(c.nouns.count == 59_123)
        #expect(c.adjectives.count == 14_045)
        #expect(c.nounSynsets == 72_033 && c.adjectiveSynsets == 18_156)
        #expect(Array(c.nouns.prefix(3)) == ["entity", "physical entity", "abstraction"])
        #expect(!c.adjectives.contains { $0.contains("(") || $0.contains("_") })
        #expect(c.adjectives.contains("abounding") && c.adjectives.contains("handy"))
        #expect(throws: WordNetCandidates.Problem.missing(path: "/nonexistent/data.noun")) {
            try WordNetCandidates.load(directory: "/nonexistent")
        }
    }

    /// `LowestEtas` replaces a second embedding of the chosen prompts: fed block by block, in
    /// any order, it must hold every candidate `select` picks, with that candidate's own row.
    @Test("the lowest-η candidates kept during the η pass are exactly the ones select picks, with their features",
          arguments: [1, 7, 64, 500])
    func lowestEtasMatchesSelect(block: Int) throws {
        var rng = SystemRandomNumberGenerator()
        let count = 300, cols = 4
        // Few distinct values, so ties are everywhere.
        let etas = (0..<count).map { _ in Float(Int.random(in: 0..<40, using: &rng)) / 40 }
        for k in [0, 1, 37, count, count + 5] {
            var lowest = LowestEtas(keep: k, cols: cols)
            let order = (0..<count).shuffled(using: &rng)
            for start in stride(from: 0, to: count, by: block) {
                let slice = Array(order[start..<min(count, start + block)])
                let rows = Matrix(rows: slice.count, cols: cols, storage: slice.flatMap { i in (0..<cols).map { Float(i * cols + $0) } })
                lowest.add(indices: slice, etas: slice.map { etas[$0] }, features: rows)
            }
            let chosen = NegativeSelection.select(count: k, nounEtas: etas, adjectiveEtas: []).nouns
            #expect(chosen.count == min(k, count))
            let features = try #require(lowest.features(of: chosen), "k \(k): a chosen candidate was not kept")
            #expect(features == chosen.flatMap { i in (0..<cols).map { Float(i * cols + $0) } }, "k \(k): a kept row is not its candidate's")
            #expect(Set(lowest.indices) == Set(chosen))
        }
    }

    @Test("split: adjectives ⌊M·a/(a+n)⌋, nouns the rest, each at most what there is")
    func splitCounts() {
        #expect(NegativeSelection.split(count: 10, nouns: 7, adjectives: 3) == (3, 7))
        #expect(NegativeSelection.split(count: 10_000, nouns: 58_668, adjectives: 12_353) == (1_739, 8_261))
        #expect(NegativeSelection.split(count: 10, nouns: 2, adjectives: 1) == (1, 2))
        #expect(NegativeSelection.split(count: 0, nouns: 5, adjectives: 5) == (0, 0))
        #expect(NegativeSelection.split(count: 5, nouns: 0, adjectives: 0) == (0, 0))
    }

    @Test("prompts per part of speech")
    func prompts() {
        #expect(PartOfSpeech.noun.prompt("rock") == "The nice rock.")
        #expect(PartOfSpeech.adj.prompt("quick") == "This is a quick photo.")
    }
}
