import AdaNeg
@testable import Coordinator
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobClient
import JobPlan
import JobProtocol
import Logging
import Testing
import Worker

/// Bank syncs (issue 26): the format-2 wire with `since` and `version` apart, the pull budget,
/// the frontier and its window, the worker's catch-up rule, and refused requests that store nothing.
@Suite("Bank sync")
struct BankSyncTests {
    static func entry(_ row: Int, _ position: Int, _ priority: Float = 0.5, dimension: Int = 4) -> BankEntry {
        BankEntry(row: row, key: BankKey(primary: priority, position: position),
                  feature: (0..<dimension).map { Float($0 + 1) / Float(dimension * 3) + Float(position) * 1e-3 })
    }

    // MARK: Wire

    @Test("requests keep float32 and their own fields; replies carry float16 features and version, behind, frontier apart")
    func wireRoundTrip() throws {
        let request = BankSyncRequest(since: 7, position: 130, delta: BankDelta(entries: [Self.entry(3, 120), Self.entry(1, 121, 0.25)]))
        let body = BankWire.encode(request, dimension: 4)
        #expect(body.count == BankWire.headerSize + 2 * (16 + 4 * 4))
        let (dimension, decoded) = try BankWire.decodeRequest(body)
        #expect(dimension == 4 && decoded == request)

        let reply = BankSyncReply(delta: request.delta, version: 9, behind: 12, frontier: 64, window: 256, maxBehind: nil)
        let replyBody = BankWire.encode(reply, since: 7, position: 130, dimension: 4)
        #expect(replyBody.count == BankWire.headerSize + 2 * (16 + 2 * 4))
        let back = try BankWire.decodeReply(replyBody, dimension: 4)
        #expect(back.version == 9 && back.behind == 12 && back.frontier == 64 && back.window == 256 && back.maxBehind == nil)
        #expect(back.delta.entries.map(\.key) == reply.delta.entries.map(\.key) && back.delta.entries.map(\.row) == [3, 1])
        for (a, b) in zip(back.delta.entries, reply.delta.entries) {
            for (x, y) in zip(a.feature, b.feature) { #expect(abs(x - y) <= abs(y) * 1e-3) }
        }
        #expect(throws: BankWire.Problem.dimensionMismatch(expected: 8, found: 4)) { try BankWire.decodeReply(replyBody, dimension: 8) }
    }

    @Test("a malformed request is refused naming its field")
    func wireRefusals() throws {
        let good = BankWire.encode(BankSyncRequest(since: 1, position: 4, delta: BankDelta(entries: [Self.entry(0, 1)])), dimension: 4)
        func patched(_ offset: Int, _ value: UInt64, bytes: Int) -> Data {
            var d = good
            for i in 0..<bytes { d[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            return d
        }
        func message(_ data: Data) -> String {
            do { _ = try BankWire.decodeRequest(data); return "accepted" } catch { return error.description }
        }
        #expect(message(patched(4, 1, bytes: 4)).contains("'format'"))
        #expect(message(patched(16, 2, bytes: 4)).contains("'element'"))
        #expect(message(patched(8, 0, bytes: 4)).contains("'dimension'"))
        #expect(message(patched(24, UInt64(bitPattern: -3), bytes: 8)).contains("'since'"))
        #expect(message(patched(40, UInt64(bitPattern: -1), bytes: 8)).contains("'position'"))
        for (field, offset) in [("version", 32), ("behind", 48), ("frontier", 56), ("window", 64), ("max_behind", 72)] {
            #expect(message(patched(offset, 5, bytes: 8)).contains("'\(field)'"), "\(field)")
        }
        #expect(message(good.dropLast(3)).contains("'count'"))
        #expect(message(Data(good.prefix(20))).contains("shorter than its 80-byte header"))
        #expect(message(good) == "accepted")
    }

    // MARK: Budget and frontier

    @Test("a pull carries whole versions up to its budget, oldest first, and says how many entries are left")
    func pullBudget() {
        var bank = TaskBank(rowCount: 8, memoryLength: 4, dimension: 4, stored: [], version: 0)
        for v in 0..<3 { _ = bank.merge(BankDelta(entries: (0..<4).map { Self.entry($0, v * 4 + $0) })) }
        #expect(bank.version == 3)
        func pull(since: Int64, excluding: Set<Int> = [], budget: Int = .max) -> (delta: BankDelta, version: Int64, behind: Int) {
            let p = bank.pull(since: since, excluding: excluding, budget: budget)
            return (bank.entries(p.pools), p.version, p.behind)
        }
        let first = pull(since: 0, budget: 5)
        #expect(first.delta.entries.map(\.key.position) == [0, 1, 2, 3] && first.version == 1 && first.behind == 8)
        // However small the budget, a pull moves a whole version on.
        let tiny = pull(since: 1, budget: 1)
        #expect(tiny.delta.entries.count == 4 && tiny.version == 2 && tiny.behind == 4)
        let rest = pull(since: 1, excluding: [4, 5], budget: 100)
        #expect(rest.delta.entries.map(\.key.position) == [6, 7, 8, 9, 10, 11] && rest.version == 3 && rest.behind == 0)
        let none = pull(since: 3)
        #expect(none.delta.isEmpty && none.version == 3 && none.behind == 0)
    }

    @Test("the frontier is the first position some unit has not pushed; finished units are passed over")
    func frontier() {
        var p = UnitProgress(units: [(0, 10, false), (10, 10, false), (20, 5, false), (25, 5, true)])
        #expect(p.frontier == 0 && p.active == 0)
        p.pushed(through: 15)
        #expect(p.frontier == 0 && p.active == 1)
        p.pushed(through: 4)
        #expect(p.frontier == 4 && p.active == 2)
        p.pushed(through: 3) // a late, older report changes nothing
        #expect(p.frontier == 4)
        p.pushed(through: 10)
        #expect(p.frontier == 15 && p.active == 1)
        p.finish(unitStartingAt: 10)
        #expect(p.frontier == 20 && p.active == 0)
        p.pushed(through: 25)
        #expect(p.frontier == 30)
    }

    // MARK: Through the coordinator

    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// A one-task job of 64 ID and 32 OOD samples in units of one batch of 16 (6 units).
    static func job(in dir: URL) throws -> FeaturesJob {
        try FeaturesJob(in: dir, shape: .init(classes: 6, negatives: 30, dimension: 12, idSamples: 64, oodSamples: 32),
                        kinds: [.covered], batchSize: 16, unitBatches: 1, memleng: 3)
    }

    @Test("early units wait for the ones before them: the automatic window opens as the frontier moves")
    func automaticWindow() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-banksync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path, logger: Self.quiet)
        let submitted = try await coordinator.submit(try Self.job(in: dir).spec())
        let task = try await coordinator.tasks(job: submitted.job)[0].id
        // Unit 4 pushes its batch first: the frontier is still 0, two units of window.
        let ahead = try await coordinator.syncBank(task: task, BankSyncRequest(since: 0, position: 80, delta: BankDelta(entries: [Self.entry(1, 70, dimension: 12)])))
        #expect(ahead.frontier == 0 && ahead.window == 32 && !ahead.allowsScoring(at: 64))
        #expect(ahead.allowsScoring(at: 32))
        for unit in 0..<3 { _ = try await coordinator.syncBank(task: task, BankSyncRequest(since: 0, position: 16 * (unit + 1))) }
        let later = try await coordinator.syncBank(task: task, BankSyncRequest(since: 0, position: 80))
        #expect(later.frontier == 48 && later.allowsScoring(at: 64))
    }

    @Test("refused syncs name the field and store nothing")
    func refusedSyncs() async throws {
        try await TestCluster.with(maxBodyBytes: 1 << 16) { cluster in
            let job = try Self.job(in: cluster.directory)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            let task = try await cluster.coordinator.tasks(job: submitted.job)[0].id
            let good = Self.entry(2, 5, dimension: 12)
            func post(_ request: BankSyncRequest, dimension: Int = 12) async throws -> (Int, String) {
                try await raw(cluster, BankWire.encode(request, dimension: dimension), task: task)
            }
            var nan = good
            nan.feature[3] = .nan
            var infinite = good
            infinite.key.primary = .infinity
            let cases: [(BankSyncRequest, Int, Int, String)] = [
                (BankSyncRequest(since: 0, delta: BankDelta(entries: [Self.entry(2, 5, dimension: 8)])), 8, 400, "'dimension'"),
                (BankSyncRequest(since: 4, delta: BankDelta(entries: [good])), 12, 409, "'since'"),
                (BankSyncRequest(since: 0, position: 97, delta: BankDelta(entries: [good])), 12, 400, "'position'"),
                (BankSyncRequest(since: 0, delta: BankDelta(entries: [good, Self.entry(36, 6, dimension: 12)])), 12, 400, "'row'"),
                (BankSyncRequest(since: 0, delta: BankDelta(entries: [good, Self.entry(1, 96, dimension: 12)])), 12, 400, "'position'"),
                (BankSyncRequest(since: 0, delta: BankDelta(entries: [good, nan])), 12, 400, "'feature'"),
                (BankSyncRequest(since: 0, delta: BankDelta(entries: [infinite])), 12, 400, "'priority'"),
            ]
            for (request, dimension, status, field) in cases {
                let (code, message) = try await post(request, dimension: dimension)
                #expect(code == status && message.contains(field), "\(field): \(code) \(message)")
            }
            let big = BankSyncRequest(since: 0, delta: BankDelta(entries: (0..<2000).map { Self.entry($0 % 36, $0 % 96, dimension: 12) }))
            let (tooLarge, _) = try await post(big)
            #expect(tooLarge == 413)
            var legacy = BankWire.encode(BankSyncRequest(since: 0, delta: BankDelta(entries: [good])), dimension: 12)
            legacy[4] = 1
            let (old, oldMessage) = try await raw(cluster, legacy, task: task)
            #expect(old == 400 && oldMessage.contains("'format'"))
            let (unknown, _) = try await raw(cluster, BankWire.encode(BankSyncRequest(since: 0), dimension: 12), task: 999)
            #expect(unknown == 404)

            // Nothing of any refused request reached the bank or the database.
            #expect(try await cluster.coordinator.tasks(job: submitted.job)[0].bankVersion == 0)
            let pulled = try await cluster.coordinator.syncBank(task: task, since: 0, delta: BankDelta())
            #expect(pulled.delta.isEmpty && pulled.version == 0)
            // The same entry, well formed, is merged.
            let (accepted, _) = try await post(BankSyncRequest(since: 0, position: 16, delta: BankDelta(entries: [good])))
            #expect(accepted == 200)
            #expect(try await cluster.coordinator.tasks(job: submitted.job)[0].bankVersion == 1)
        }
    }

    func raw(_ cluster: TestCluster, _ body: Data, task: Int64) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(cluster.port)/v1/tasks/\(task)/bank")!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    // MARK: The worker's rule

    /// Replies in order, recording the requests.
    final class Scripted: BankSync, @unchecked Sendable {
        var replies: [BankSyncReply]
        var requests: [BankSyncRequest] = []
        init(_ replies: [BankSyncReply]) { self.replies = replies }
        func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
            requests.append(request)
            return replies.removeFirst()
        }
    }

    @Test("a worker pulls until it is within the bound, waits while past the window, and gives up at its limit")
    func catchUp() async throws {
        // Behind: pulls again at once from the version reached.
        let behind = Scripted([BankSyncReply(delta: BankDelta(entries: [Self.entry(0, 9)]), version: 3, behind: 5, frontier: 0, maxBehind: 0),
                               BankSyncReply(delta: BankDelta(entries: [Self.entry(1, 10)]), version: 6, behind: 0, frontier: 0, maxBehind: 0)])
        var merged = [Int]()
        let a = try await BankCatchUp.step(behind, task: 1, since: 1, position: 32, delta: BankDelta(entries: [Self.entry(2, 20)]), scoringAt: 16,
                                           dimension: 4, maxWait: 60) { merged += $0.entries.map(\.key.position) }
        #expect(a.version == 6 && a.syncs == 2 && !a.gaveUp && merged == [9, 10])
        #expect(behind.requests.map(\.since) == [1, 3] && behind.requests[1].delta.isEmpty && behind.requests.allSatisfy { $0.position == 32 })

        // Past the window: waits for the frontier to move, then scores.
        let ahead = Scripted([BankSyncReply(version: 2, frontier: 0, window: 32), BankSyncReply(version: 2, frontier: 40, window: 32)])
        let b = try await BankCatchUp.step(ahead, task: 1, since: 2, position: 80, delta: BankDelta(), scoringAt: 64, dimension: 4, maxWait: 60) { _ in }
        #expect(b.syncs == 2 && !b.gaveUp && b.waitedSeconds > 0)

        // With no time to wait, the batch is scored as it is, and the outcome says so.
        let stuck = Scripted([BankSyncReply(version: 2, frontier: 0, window: 32)])
        let c = try await BankCatchUp.step(stuck, task: 1, since: 2, position: 80, delta: BankDelta(), scoringAt: 64, dimension: 4, maxWait: 0) { _ in }
        #expect(c.syncs == 1 && c.gaveUp)
    }
}
