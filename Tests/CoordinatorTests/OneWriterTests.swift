import AdaNegCore
@testable import Coordinator
import Foundation
import JobProtocol
@testable import JobStore
import Logging
import Testing

/// The database has one writer: the coordinator's `StoreWriter`. The banks' merges are stored
/// through its group commit, not on connections of their own.
@Suite("One writer")
struct OneWriterTests {
    static func scratch(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// This process's descriptors open on `path` for writing (from /proc/self/fdinfo's flags).
    static func writableDescriptors(of path: String) throws -> Int {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var count = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)"), link == target,
                  let info = try? String(contentsOfFile: "/proc/self/fdinfo/\(name)", encoding: .utf8),
                  let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                  let flags = Int(line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8) else { continue }
            if flags & Int(O_ACCMODE) != Int(O_RDONLY) { count += 1 }
        }
        return count
    }

    @Test("banks of several tasks merge and persist, and the database still has exactly one connection open for writing")
    func oneWriteConnection() async throws {
        let dir = try Self.scratch("one-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("db.sqlite").path
        let coordinator = try Coordinator(databasePath: db, logger: BankSyncTests.quiet)
        let job = try FeaturesJob(in: dir, shape: .init(classes: 6, negatives: 30, dimension: 12, idSamples: 64, oodSamples: 32),
                                  kinds: [.covered, .uncovered, .nearID], batchSize: 16, unitBatches: 1, memleng: 3)
        let submitted = try await coordinator.submit(try job.spec())
        let tasks = try await coordinator.tasks(job: submitted.job).map(\.id)
        #expect(tasks.count == 3)
        // Merges of the three tasks at once, eight pushes each.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in tasks {
                for push in 0..<8 {
                    group.addTask {
                        let delta = BankDelta(entries: [BankSyncTests.entry(push % 6, push * 4 + 1, 0.1 + Float(push) / 10, dimension: 12)])
                        _ = try await coordinator.syncBank(task: task, since: 0, delta: delta)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try Self.writableDescriptors(of: db) == 1, "the writer's connection is the only one open for writing")
        #expect(coordinator.groupCommit.writes >= 24, "every merge went through the group commit")
        let stored = try await coordinator.read { r throws(StoreError) in
            var counts = [Int]()
            for task in tasks { counts.append(try r.bankEntries(task: task, job: submitted.job, model: nil).count) }
            return counts
        }
        #expect(stored == [8, 8, 8], "each task's eight merges are stored: \(stored)")
    }

    @Test("a merge that cannot be stored is refused, later merges built on it are not stored, and the bank is rebuilt from the database")
    func failedMergeRebuilds() async throws {
        let dir = try Self.scratch("one-writer-fail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path, logger: BankSyncTests.quiet)
        let submitted = try await coordinator.submit(try BankSyncTests.job(in: dir).spec())
        let task = try await coordinator.tasks(job: submitted.job)[0].id
        let first = try await coordinator.syncBank(task: task, since: 0, delta: BankDelta(entries: [BankSyncTests.entry(1, 3, dimension: 12)]))
        #expect(first.version == 1)
        // The disk refuses the next merge.
        try await coordinator.write { w throws(StoreError) in
            try w.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON bank_entries BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        }
        await #expect(throws: StoreError.self) {
            _ = try await coordinator.syncBank(task: task, BankSyncRequest(since: 1, delta: BankDelta(entries: [BankSyncTests.entry(2, 5, dimension: 12)])))
        }
        try await coordinator.write { w throws(StoreError) in try w.db.execute("DROP TRIGGER refuse") }
        // Rebuilt from what is stored: the refused entry is gone, the version is the stored one.
        let after = try await coordinator.syncBank(task: task, since: 0, delta: BankDelta())
        #expect(after.version == 1 && after.delta.entries.map(\.key.position) == [3])
        let next = try await coordinator.syncBank(task: task, since: 1, delta: BankDelta(entries: [BankSyncTests.entry(2, 7, dimension: 12)]))
        #expect(next.version == 2)
        let stored = try await coordinator.read { r throws(StoreError) in try r.bankEntries(task: task, job: submitted.job, model: nil).map(\.key.position) }
        #expect(Set(stored) == [3, 7])
    }

    @Test("an in-memory database stores its banks through the same writer")
    func inMemory() async throws {
        let dir = try Self.scratch("one-writer-memory")
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: ":memory:", logger: BankSyncTests.quiet)
        let submitted = try await coordinator.submit(try BankSyncTests.job(in: dir).spec())
        let task = try await coordinator.tasks(job: submitted.job)[0].id
        let reply = try await coordinator.syncBank(task: task, since: 0, delta: BankDelta(entries: [BankSyncTests.entry(1, 3, dimension: 12), BankSyncTests.entry(2, 4, dimension: 12)]))
        #expect(reply.version == 1)
        let stored = try await coordinator.read { r throws(StoreError) in try r.bankEntries(task: task, job: submitted.job, model: nil).count }
        #expect(stored == 2)
    }
}
