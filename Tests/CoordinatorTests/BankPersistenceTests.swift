import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import NPY
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

    @Test("a reloaded bank's features are bit-identical to what the workers sent: one normalisation (UnitNorm) everywhere")
    func reloadBitIdentical() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-bank-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("db.sqlite").path
        // Unnormalised rows, so the reload really normalises (a unit row would hide a different
        // summation order).
        let job = try FeaturesJob(in: dir, shape: .init(classes: 5, negatives: 20, dimension: 37, idSamples: 50, oodSamples: 30),
                                  kinds: [.covered], batchSize: 10, unitBatches: 1, memleng: 4)
        // Unit-norm synthetic rows scaled per file row, written back before submission.
        func scale(set: Int, row: Int) -> Float { 0.37 * Float(1 + (row + 3 * set) % 7) }
        for (set, file, source) in [(0, "id.npy", job.data.idFeatures), (1, "ood-covered.npy", job.data.oodSets.first { $0.kind == .covered }!.features)] {
            var m = source
            for r in 0..<m.rows { for c in 0..<m.cols { m[r, c] *= scale(set: set, row: r) } }
            try NPYFile.writeMatrix(m.storage, rows: m.rows, cols: m.cols, to: "\(dir.path)/\(file)")
        }
        let first = try Coordinator(databasePath: db)
        let submitted = try await first.submit(try job.spec())
        let task = try await first.tasks(job: submitted.job)[0].id
        let stream = try await first.stream(task: task)
        // What a worker scores and sends: the file's rows, each normalised by the worker.
        var sent = job.features(sets: stream.sets, items: stream.items, kinds: [.covered])
        for p in 0..<sent.rows { for c in 0..<sent.cols { sent[p, c] *= scale(set: stream.sets[p], row: stream.items[p]) } }
        sent.normalizeRows()
        let entries = (0..<40).map { position in
            BankEntry(row: position % 25, key: BankKey(primary: Float(position % 5) / 5, position: position), feature: sent.row(position))
        }
        _ = try await first.syncBank(task: task, since: 0, delta: BankDelta(entries: entries))
        let (live, _) = try await first.syncBank(task: task, since: 0, delta: BankDelta())
        let second = try Coordinator(databasePath: db)
        let (reloaded, _) = try await second.syncBank(task: task, since: 0, delta: BankDelta())
        #expect(!reloaded.entries.isEmpty && reloaded.entries.count == live.entries.count)
        let byPosition = Dictionary(uniqueKeysWithValues: live.entries.map { ($0.key.position, $0.feature) })
        for e in reloaded.entries {
            #expect(e.feature == sent.row(e.key.position), "position \(e.key.position)")
            #expect(e.feature == byPosition[e.key.position], "position \(e.key.position)")
        }
    }
}
