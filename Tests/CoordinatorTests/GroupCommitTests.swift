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
        // Leases go through the group commit too (`Coordinator.writeNow`): count from here.
        let (writes, groups) = (coordinator.groupCommit.writes, coordinator.groupCommit.groups)
        #expect(writes == 8)
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
        #expect(coordinator.groupCommit.writes - writes == 16 && coordinator.groupCommit.groups - groups <= 16)
    }

    @Test("a completion shares its transaction with the writes queued meanwhile; one of them failing loses or doubles nothing")
    func completionInGroup() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-complete-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path)
        let job = try FeaturesJob(in: dir, shape: .init(classes: 6, negatives: 20, dimension: 8, idSamples: 128, oodSamples: 64),
                                  kinds: [.uncovered], batchSize: 96, unitBatches: 1)
        _ = try await coordinator.submit(try job.spec())
        let first = try #require(try await coordinator.lease(worker: "w1", host: "h").grant)
        let second = try #require(try await coordinator.lease(worker: "w2", host: "h").grant)
        func completion(_ grant: LeaseGrant, worker: String) -> CompletionRequest {
            CompletionRequest(worker: worker, attempt: grant.attempt,
                              results: StoreStatementsTests.results(count: grant.sets.count, salt: Int(grant.unit), failedEvery: 5, predStatic: true),
                              computeSeconds: 1, waitSeconds: 0)
        }
        func stored(_ grant: LeaseGrant) async throws -> Int {
            try await coordinator.results(task: grant.task).filter { (grant.firstSample ..< grant.firstSample + grant.sets.count).contains($0.position) }.count
        }
        // Queued from outside the actor (as bank merges are): one fails, one is fine.
        let bad = coordinator.groupCommit.enqueue { store throws(StoreError) in
            try store.touchWorker(id: "half-done", host: "h", now: 1)
            throw StoreError.unknownUnit(99)
        }
        let good = coordinator.groupCommit.enqueue { store throws(StoreError) in try store.touchWorker(id: "beside", host: "h", now: 1); return 0 }
        let groups = coordinator.groupCommit.groups
        #expect(try await coordinator.complete(unit: first.unit, completion(first, worker: "w1")) == .accepted)
        #expect(coordinator.groupCommit.groups == groups + 1, "the completion and the queued writes: one transaction")
        guard case .failure? = coordinator.groupCommit.take(bad), case .success? = coordinator.groupCommit.take(good) else {
            Issue.record("the failing write's caller gets its error, the other write is stored")
            return
        }
        #expect(try await stored(first) == first.sets.count)
        // Again: a harmless duplicate, nothing stored twice.
        #expect(try await coordinator.complete(unit: first.unit, completion(first, worker: "w1")) == .duplicate)
        #expect(try await stored(first) == first.sets.count)
        // A refused completion (not the holder) in the group stores nothing; the holder's then does.
        await #expect(throws: StoreError.self) { _ = try await coordinator.complete(unit: second.unit, completion(second, worker: "w1")) }
        #expect(try await stored(second) == 0)
        #expect(try await coordinator.complete(unit: second.unit, completion(second, worker: "w2")) == .accepted)
        #expect(try await stored(second) == second.sets.count)
        let readers = try #require(coordinator.readers)
        let workers = try readers.read { r throws(StoreError) in try r.workers().map(\.id) }
        #expect(Set(workers) == ["w1", "w2", "beside"], "the failed write left nothing")
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
