import Testing
import Tensor
@testable import AdaNeg

/// A worker that syncs its bank after every batch must reproduce the sequential run exactly.
@Suite("Distributed replay")
struct DistributedReplayTests {
    static let data = SyntheticBenchmark(
        shape: .init(classes: 12, negatives: 53, dimension: 24, idSamples: 260, oodSamples: 140), seed: 5)

    func parameters(_ proxy: ProxyKind) -> ScoringParameters {
        var p = ScoringParameters()
        p.batchSize = 32
        p.memoryLength = 4
        p.proxy = proxy
        return p
    }

    @Test("one worker syncing every batch equals the sequential reference", arguments: ProxyKind.allCases)
    func oneWorker(proxy: ProxyKind) throws {
        let (features, _) = Self.data.stream(for: .uncovered, seed: 9)
        let p = parameters(proxy)
        var sequential = try AdaNegScorer(text: Self.data.text, numID: 12, parameters: p, permutation: .seed(1))
        let expected = try sequential.scoreStream(features)

        var worker = try AdaNegScorer(text: Self.data.text, numID: 12, parameters: p, permutation: .seed(1), recordsDelta: true)
        var coordinator = MemoryBank(rowCount: Self.data.text.rows, memoryLength: p.memoryLength, dimension: 24)
        var got = [SampleScore]()
        var start = 0
        var synced = 0
        while start < features.rows {
            let end = min(features.rows, start + p.batchSize)
            got += try worker.score(batch: features.rows(start..<end), startPosition: start).0
            let accepted = coordinator.merge(worker.takeBankDelta())
            synced += accepted.entries.count
            #expect(worker.mergeBank(accepted).isEmpty) // the worker already holds what it sent
            start = end
        }
        #expect(synced > 0)
        #expect(got == expected)
        #expect(coordinator.canonicalState == sequential.bank.canonicalState)
    }

    @Test("two workers exchanging deltas converge on one bank")
    func twoWorkers() throws {
        let (features, _) = Self.data.stream(for: .covered, seed: 3)
        let p = parameters(.task)
        var workers = try (0..<2).map { _ in
            try AdaNegScorer(text: Self.data.text, numID: 12, parameters: p, permutation: .seed(1), recordsDelta: true)
        }
        var coordinator = MemoryBank(rowCount: Self.data.text.rows, memoryLength: p.memoryLength, dimension: 24)
        var log = [BankDelta]() // accepted deltas in coordinator order
        var seen = [0, 0]
        var start = 0
        var turn = 0
        while start < features.rows {
            let end = min(features.rows, start + p.batchSize)
            _ = try workers[turn].score(batch: features.rows(start..<end), startPosition: start)
            log.append(coordinator.merge(workers[turn].takeBankDelta()))
            for delta in log[seen[turn]...] { workers[turn].mergeBank(delta) }
            seen[turn] = log.count
            start = end
            turn = 1 - turn
        }
        for w in workers.indices {
            for delta in log[seen[w]...] { workers[w].mergeBank(delta) }
            #expect(workers[w].bank.canonicalState == coordinator.canonicalState)
        }
        #expect(coordinator.entryCount > 0)
    }
}
