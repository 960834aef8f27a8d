@testable import Coordinator
import Foundation
import JobProtocol
@testable import JobStore
import Testing

/// The writer's hot statements are compiled once per connection (`SQLiteConnection.cached`) and
/// a completion's result rows go in 64 rows per statement: what is stored must be exactly what
/// one row per statement stored, a refused write must leave nothing and not spoil the next one,
/// and no cached read may stay open between uses (it would hold the WAL back).
@Suite("Cached statements and grouped result rows")
struct StoreStatementsTests {
    static func results(count: Int, salt: Int, failedEvery: Int?, predStatic: Bool) -> UnitResults {
        var r = UnitResults(predStatic: predStatic ? [] : nil)
        for i in 0..<count {
            let failed = failedEvery.map { i % $0 == 3 } ?? false
            r.pred.append((i * 7 + salt) % 6)
            r.predStatic?.append((i * 5 + salt) % 6)
            // Scores within [0, 1], each column its own values (a column swap would show).
            r.conf.append(Float(i % 97) / 97 + Float(salt) * 1e-3)
            r.confVanilla.append(Float(i % 89) / 89)
            r.mcm.append(Float(i % 17) * 0.0625 + 1e-7)
            r.adaptive.append(1 - Float(i % 23) / 23)
            r.errors.append(failed ? "image \(i) of \(salt): unreadable" : nil)
        }
        return r
    }

    /// What one row per statement stored for `r` at positions `first`…, as read back.
    static func expected(_ r: UnitResults, first: Int, labels: [Int]) -> [ResultRecord] {
        r.samples.enumerated().map { i, sample in
            switch sample {
            case let .failed(error):
                return ResultRecord(position: first + i, label: labels[i], error: error)
            case let .scored(s):
                return ResultRecord(position: first + i, label: labels[i], pred: s.pred, conf: s.conf, confVanilla: s.confVanilla, mcm: s.mcm,
                                    adaptive: s.adaptive, predStatic: s.predStatic)
            }
        }
    }

    @Test("result rows in groups of 64 (and a partial group) read back as the samples sent, failed samples and older workers included")
    func groupedResultRows() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statements-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path)
        // Units of 150 samples: two full groups of 64 and one of 22.
        let job = try FeaturesJob(in: dir, shape: .init(classes: 6, negatives: 20, dimension: 8, idSamples: 300, oodSamples: 150),
                                  kinds: [.uncovered], batchSize: 150, unitBatches: 1)
        _ = try await coordinator.submit(try job.spec())
        var stored = [Int64: [ResultRecord]]()
        for (n, form) in [(7, true), (nil, true), (5, false)].enumerated() {
            let grant = try #require(try await coordinator.lease(worker: "w", host: "h").grant)
            let r = Self.results(count: grant.sets.count, salt: n, failedEvery: form.0, predStatic: form.1)
            // A completion refused (not the holder) stores nothing and leaves the statements usable.
            await #expect(throws: StoreError.self) {
                _ = try await coordinator.complete(unit: grant.unit, CompletionRequest(worker: "intruder", attempt: grant.attempt, results: r,
                                                                                      computeSeconds: 0, waitSeconds: 0))
            }
            #expect(try await coordinator.results(task: grant.task).filter { $0.position >= grant.firstSample && $0.position < grant.firstSample + r.count }.isEmpty)
            #expect(try await coordinator.complete(unit: grant.unit, CompletionRequest(worker: "w", attempt: grant.attempt, results: r,
                                                                                      computeSeconds: 1, waitSeconds: 0)) == .accepted)
            stored[grant.task, default: []] += Self.expected(r, first: grant.firstSample, labels: grant.labels)
        }
        for (task, want) in stored {
            let got = try await coordinator.results(task: task)
            #expect(got == want.sorted { $0.position < $1.position })
        }
    }

    @Test("a cached statement used again further up the stack is not reset under its user")
    func nestedUse() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)")
        let sql = "SELECT x FROM t ORDER BY x"
        let pairs = try db.cached(sql) { outer throws(StoreError) -> [[Int64]] in
            try outer.bind([])
            var out = [[Int64]]()
            while try outer.step() {
                let x = outer.int(0)
                let inner = try db.cached(sql) { s throws(StoreError) -> Int64 in
                    try s.bind([])
                    var n: Int64 = 0
                    while try s.step() { n += s.int(0) }
                    return n
                }
                out.append([x, inner])
            }
            return out
        }
        #expect(pairs == [[1, 6], [2, 6], [3, 6]])
    }

    @Test("no cached read stays open after its use: the WAL can be checkpointed and truncated at once")
    func noReadLeftOpen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statements-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("db.sqlite").path
        let writer = try StoreWriter(path: path)
        try writer.touchWorker(id: "w", host: "h", now: 1)
        try writer.db.execute("INSERT INTO jobs (name, spec_yaml, plan_json, created_at) VALUES ('j', '', '{}', 0)")
        try writer.db.execute("INSERT INTO tasks (job_id, ood_index, ood_name, sample_count) VALUES (1, 1, 'o', 4)")
        try writer.db.execute("INSERT INTO units (task_id, first_sample, sample_count) VALUES (1, 0, 2), (1, 2, 2)")
        // Single-row reads through cached statements: each stops at its first row.
        #expect(try writer.unit(id: 1) != nil && writer.task(id: 1) != nil)
        #expect(try writer.samples(task: 1, first: 0, count: 2).sets.isEmpty)
        let other = try SQLiteConnection(path: path)
        try other.execute("PRAGMA busy_timeout = 0")
        #expect(try other.scalar("PRAGMA wal_checkpoint(TRUNCATE)") == 0, "a read left open on the writer blocks the checkpoint")
    }
}
