@testable import Coordinator
import Foundation
import JobProtocol
@testable import JobStore
import Testing

/// Writes from outside the coordinator's actor go through its one writer in groups: one
/// transaction for everything queued, each write all-or-nothing on its own.
@Suite("Group commit")
struct GroupCommitTests {
    /// A coordinator in a fresh folder with a small features job submitted (units of one batch).
    static func submitted(_ name: String, batchSize: Int) async throws -> (Coordinator, FeaturesJob, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path)
        let job = try FeaturesJob(in: dir, shape: .init(classes: 6, negatives: 20, dimension: 8, idSamples: 128, oodSamples: 64),
                                  kinds: [.uncovered], batchSize: batchSize, unitBatches: 1)
        _ = try await coordinator.submit(try job.spec())
        return (coordinator, job, dir)
    }
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
        let (coordinator, _, dir) = try await Self.submitted("group-complete", batchSize: 96)
        defer { try? FileManager.default.removeItem(at: dir) }
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

    @Test("a commit runs every prompt write but bulk writes only within its slice: none at 0, at least one when positive, all without a bound")
    func lanes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-lanes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try StoreWriter(path: dir.appendingPathComponent("db.sqlite").path)
        let group = GroupCommit()
        let bulk = (0..<3).map { i in group.enqueue(.bulk) { store throws(StoreError) in try store.touchWorker(id: "bulk\(i)", host: "h", now: 1); return i } }
        let prompt = group.enqueue(.prompt) { store throws(StoreError) in try store.touchWorker(id: "prompt", host: "h", now: 1); return -1 }
        group.commit(on: writer, bulkSeconds: 0)
        #expect(group.hasRun(prompt) && !bulk.contains { group.hasRun($0) }, "a prompt write queued after bulk ones goes first")
        #expect(group.ranThrough == bulk[0] - 1)
        // A slice far shorter than one write still runs one, in the order queued.
        group.commit(on: writer, bulkSeconds: 1e-9)
        #expect(group.hasRun(bulk[0]) && !group.hasRun(bulk[1]))
        group.commit(on: writer)
        #expect(bulk.allSatisfy { group.hasRun($0) } && group.ranThrough == prompt)
        #expect(try bulk.map { try group.take($0)?.get() as? Int } == [0, 1, 2])
        #expect(Set(try writer.workers().map(\.id)) == ["prompt", "bulk0", "bulk1", "bulk2"])
    }

    /// The writer's owner, as the coordinator's actor is: commits one at a time, counting them.
    actor Owner {
        let writer: StoreWriter
        let group: GroupCommit
        var commits = 0
        init(writer: StoreWriter, group: GroupCommit) { (self.writer, self.group) = (writer, group) }
        func commit() {
            commits += 1
            group.commit(on: writer, bulkSeconds: 0.001, leader: true)
        }
        func workers() throws -> Int { try writer.workers().count }
    }

    @Test("waiters lead one at a time: every write runs, each waiter wakes once its write ran, and far fewer commits than writes are asked for")
    func leaders() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("group-leaders-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let group = GroupCommit()
        let owner = Owner(writer: try StoreWriter(path: dir.appendingPathComponent("db.sqlite").path), group: group)
        let count = 200
        // Queued first, as requests arriving together are: then waited on, each by its own task.
        let ids = (0..<count).map { i in
            group.enqueue(i.isMultiple(of: 2) ? .bulk : .prompt) { store throws(StoreError) in
                try store.touchWorker(id: "w\(i)", host: "h", now: Double(i))
                return i
            }
        }
        let ran = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for id in ids {
                tasks.addTask {
                    await group.waitUntilRun(id, commit: { _ in await owner.commit(); return true }, gone: .unknownUnit(0))
                    #expect(group.hasRun(id))
                    return try group.take(id)?.get() as? Int ?? -1
                }
            }
            return try await tasks.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(ran == Set(0..<count), "each waiter gets its own write's outcome")
        let commits = await owner.commits
        #expect(commits >= 1 && commits < count, "\(commits) commits for \(count) writes")
        #expect(try await owner.workers() == count)
    }

    @Test("a leader whose owner is gone refuses every queued write with the reason, and no waiter hangs")
    func ownerGone() async throws {
        let group = GroupCommit()
        let line = GroupCommit.Line()
        let ids = (0..<5).map { i in group.enqueue(i < 3 ? .prompt : .bulk, line: i == 0 ? line : nil) { _ throws(StoreError) in i } }
        await withTaskGroup(of: Void.self) { tasks in
            for id in ids { tasks.addTask { await group.waitUntilRun(id, commit: { _ in false }, gone: .unknownTask(42)) } }
        }
        for id in ids {
            guard case .failure(.unknownTask(42))? = group.take(id) else {
                Issue.record("write \(id) is refused with the reason the owner is gone")
                continue
            }
        }
        #expect(line.failure != nil, "a line whose write was refused stays broken")
        #expect(group.ranThrough == ids.last)
    }

    @Test("a lease is answered while completions' bulk writes wait; the next waiter to lead stores them")
    func leaseBeforeBulk() async throws {
        let (coordinator, _, dir) = try await Self.submitted("group-lease", batchSize: 32)
        defer { try? FileManager.default.removeItem(at: dir) }
        let queued = (0..<4).map { i in coordinator.groupCommit.enqueue(.bulk) { store throws(StoreError) in try store.touchWorker(id: "bulk\(i)", host: "h", now: 1); return i } }
        let grant = try #require(try await coordinator.lease(worker: "w1", host: "h").grant)
        #expect(!queued.contains { coordinator.groupCommit.hasRun($0) }, "the lease committed itself, not the queued bulk writes")
        // A heartbeat waits outside the actor; with no one leading, it leads, and its commit
        // takes at least one bulk write with it; every one is stored once a waiter waits for it.
        #expect(try await coordinator.heartbeat(unit: grant.unit, worker: "w1"))
        #expect(coordinator.groupCommit.hasRun(queued[0]))
        for id in queued { await coordinator.committed(id) }
        #expect(queued.allSatisfy { coordinator.groupCommit.hasRun($0) })
        #expect(try queued.map { try coordinator.groupCommit.take($0)?.get() as? Int } == [0, 1, 2, 3])
    }

    @Test("the same completion sent twice (a retry while the first was still queued): one is stored, the other is a duplicate, whatever the order")
    func retriedCompletion() async throws {
        let (coordinator, job, dir) = try await Self.submitted("group-retry", batchSize: 32)
        defer { try? FileManager.default.removeItem(at: dir) }
        let grant = try #require(try await coordinator.lease(worker: "w1", host: "h").grant)
        let request = CompletionRequest(worker: "w1", attempt: grant.attempt,
                                        results: StoreStatementsTests.results(count: grant.sets.count, salt: 3, failedEvery: nil, predStatic: true),
                                        computeSeconds: 1, waitSeconds: 0)
        async let first = coordinator.complete(unit: grant.unit, request)
        async let second = coordinator.complete(unit: grant.unit, request)
        let outcomes = try await [first, second]
        #expect(outcomes.filter { $0 == .accepted }.count == 1 && outcomes.filter { $0 == .duplicate }.count == 1)
        let rows = try await coordinator.results(task: grant.task).filter { (grant.firstSample ..< grant.firstSample + grant.sets.count).contains($0.position) }
        #expect(rows.count == grant.sets.count)
        // The store's own answer when the second copy reaches it after the first was stored.
        let dir2 = dir.appendingPathComponent("store")
        try FileManager.default.createDirectory(at: dir2, withIntermediateDirectories: true)
        let other = try Coordinator(databasePath: dir2.appendingPathComponent("db.sqlite").path)
        _ = try await other.submit(try job.spec())
        let leased = try #require(try await other.lease(worker: "w1", host: "h").grant)
        let unit = try #require(try await other.units(task: leased.task).first { $0.id == leased.unit })
        let again = CompletionRequest(worker: "w1", attempt: leased.attempt, results: request.results, computeSeconds: 1, waitSeconds: 0)
        let stored = try await other.write { store throws(StoreError) in try store.complete(unit: unit, request: again, now: 1) }
        let twice = try await other.write { store throws(StoreError) in try store.complete(unit: unit, request: again, now: 2) }
        #expect(stored && !twice)
        await #expect(throws: StoreError.self) {
            _ = try await other.write { store throws(StoreError) in
                try store.complete(unit: unit, request: CompletionRequest(worker: "w2", attempt: leased.attempt, results: again.results, computeSeconds: 1, waitSeconds: 0), now: 3)
            }
        }
    }
}
