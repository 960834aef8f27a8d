import AdaNeg
import Coordinator
import Foundation
import Tensor
import Testing

@Suite("Bank persistence")
struct BankPersistenceTests {
    @Test("a restarted coordinator reloads the same bank, features read back from the samples' rows")
    func reload() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-bank-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("db.sqlite").path
        let job = try FeaturesJob(in: dir, shape: .init(classes: 6, negatives: 30, dimension: 12, idSamples: 80, oodSamples: 40),
                                  kinds: [.covered], batchSize: 16, unitBatches: 1, memleng: 3)
        let first = try Coordinator(databasePath: db)
        let submitted = try await first.submit(try job.spec())
        let task = try await first.tasks(job: submitted.job)[0].id
        let stream = try await first.stream(task: task)
        let features = job.features(sets: stream.sets, items: stream.items, kinds: [.covered]).rowNormalized()
        var rng = SplitMix64(seed: 3)
        let entries = (0..<60).map { position in
            BankEntry(row: Int(rng.next(upperBound: 36)), key: BankKey(primary: Float(rng.next(upperBound: 4)) / 4, position: position),
                      feature: features.row(position))
        }
        var expected = MemoryBank(rowCount: 36, memoryLength: 3, dimension: 12)
        for chunk in stride(from: 0, to: 60, by: 16) {
            let delta = BankDelta(entries: Array(entries[chunk..<min(60, chunk + 16)]))
            expected.merge(delta)
            _ = try await first.syncBank(task: task, since: 0, delta: delta)
        }
        let second = try Coordinator(databasePath: db)
        let (reloaded, version) = try await second.syncBank(task: task, since: 0, delta: BankDelta())
        #expect(version == 4)
        var rebuilt = MemoryBank(rowCount: 36, memoryLength: 3, dimension: 12)
        rebuilt.merge(reloaded)
        #expect(rebuilt.canonicalState == expected.canonicalState)
        for e in reloaded.entries {
            let original = features.row(e.key.position)
            #expect(zip(e.feature, original).allSatisfy { abs($0 - $1) < 1e-6 })
        }
    }
}
