@testable import Coordinator
import Foundation
import JobProtocol
@testable import JobStore
import Testing

/// Writes from outside the coordinator's actor go through its one writer in groups: one
/// transaction for everything queued, each write all-or-nothing on its own.
@Suite("Group commit")
struct GroupCommitTests {
    @Test("queued writes commit in one transaction; a failing write is rolled back alone and only its caller sees the error")
    func oneTransactionPerGroup() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try StoreWriter(path: dir.appendingPathComponent("db.sqlite").path)
        let group = GroupCommit()
        let a = group.enqueue { store throws(StoreError) in try store.touchWorker(id: "a", host: "h", now: 1); return 1 }
        let bad = group.enqueue { store throws(StoreError) in
            try store.touchWorker(id: "half-done", host: "h", now: 2)
            throw StoreError.unknownUnit(7)
        }
        let c = group.enqueue { store throws(StoreError) in try store.touchWorker(id: "c", host: "h", now: 3); return "c" }
        #expect(group.take(a) == nil, "nothing is answered before the commit")
        group.commit(on: writer)
        #expect(group.groups == 1 && group.writes == 3)
        #expect(try group.take(a)?.get() as? Int == 1)
        #expect(try group.take(c)?.get() as? String == "c")
        guard case let .failure(error)? = group.take(bad), case .unknownUnit(7) = error else {
            Issue.record("the failing write's caller gets its error")
            return
        }
        let readers = try #require(writer.makeReaders())
        let workers = try readers.read { r throws(StoreError) in try r.workers().map(\.id) }
        #expect(Set(workers) == ["a", "c"], "the failed write left nothing; the others are stored")
        #expect(group.take(a) == nil, "an outcome is handed over once")
    }

    @Test("heartbeats from many workers at once go through the group commit, and each gets its own answer")
    func concurrentHeartbeats() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("beats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path)
        let job = try FeaturesJob(in: dir, shape: .init(classes: 10, negatives: 40, dimension: 16, idSamples: 256, oodSamples: 256),
                                  kinds: [.uncovered], batchSize: 64, unitBatches: 1)
        _ = try await coordinator.submit(try job.spec())
        var grants = [LeaseGrant]()
        for i in 0..<8 { grants.append(try #require(try await coordinator.lease(worker: "w\(i)", host: "h").grant)) }
        let answers = try await withThrowingTaskGroup(of: (Int, Bool, Bool).self) { tasks in
            for (i, grant) in grants.enumerated() {
                tasks.addTask {
                    let mine = try await coordinator.heartbeat(unit: grant.unit, worker: "w\(i)")
                    let stranger = try await coordinator.heartbeat(unit: grant.unit, worker: "not-w\(i)")
                    return (i, mine, stranger)
                }
            }
            return try await tasks.reduce(into: [(Int, Bool, Bool)]()) { $0.append($1) }
        }
        #expect(answers.count == 8 && answers.allSatisfy { $0.1 && !$0.2 })
        #expect(coordinator.groupCommit.writes == 16 && coordinator.groupCommit.groups <= 16)
    }

    @Test("writes on one line build on each other: after one is not stored, the later ones of that line are not run; other writes are")
    func lines() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-line-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try StoreWriter(path: dir.appendingPathComponent("db.sqlite").path)
        let group = GroupCommit()
        let line = GroupCommit.Line()
        let ok = group.enqueue(line: line) { store throws(StoreError) in try store.touchWorker(id: "first", host: "h", now: 1); return 0 }
        let bad = group.enqueue(line: line) { _ throws(StoreError) in throw StoreError.unknownUnit(3) }
        let other = group.enqueue { store throws(StoreError) in try store.touchWorker(id: "other", host: "h", now: 2); return 0 }
        group.commit(on: writer)
        let after = group.enqueue(line: line) { store throws(StoreError) in try store.touchWorker(id: "after", host: "h", now: 3); return 0 }
        group.commit(on: writer)
        #expect(group.ranThrough == after)
        #expect((try? group.take(ok)?.get()) != nil && (try? group.take(other)?.get()) != nil)
        guard case .failure? = group.take(bad), case .failure? = group.take(after), case .unknownUnit(3)? = line.failure else {
            Issue.record("the failed write and the one queued after it on its line fail; the line keeps the first failure")
            return
        }
        let workers = try writer.workers().map(\.id)
        #expect(Set(workers) == ["first", "other"])
    }
}
