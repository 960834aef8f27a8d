import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import JobStore
import Synchronization
import Testing

/// A settable clock shared with the coordinator.
final class ManualClock: Sendable {
    private let now = Mutex<Double>(1_000_000)
    func read() -> Double { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

/// Random interleavings of lease, heartbeat, expiry, complete (on time, late, duplicate) and
/// fail: no unit is lost and none is completed twice.
@Suite("Lease state machine")
struct LeaseStateMachineTests {
    func results(_ n: Int, marker: Float) -> UnitResults {
        UnitResults(pred: Array(repeating: 1, count: n), conf: Array(repeating: marker, count: n),
                    confVanilla: Array(repeating: 0.5, count: n), mcm: Array(repeating: 0.5, count: n),
                    adaptive: Array(repeating: 0.5, count: n), errors: Array(repeating: nil, count: n))
    }

    static func isNotHolder(_ error: any Error) -> Bool {
        guard let e = error as? StoreError, case .notLeaseHolder = e else { return false }
        return true
    }

    @Test("random interleavings never lose or double-complete a unit", arguments: [1, 2, 3, 4, 5, 6])
    func interleavings(seed: UInt64) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-lease-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clock = ManualClock()
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path,
                                          configuration: .init(leaseSeconds: 10, maxAttempts: 4), clock: { clock.read() })
        let job = try FeaturesJob(in: dir, shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 60, oodSamples: 40),
                                  kinds: [.covered, .nearID], batchSize: 8, unitBatches: 1)
        // conf carries the unit id as a marker; with λ = 1000 the markers lie inside the range
        // the coordinator accepts for combine (S_ada + λ·S_nl ∈ [0, 1 + λ]).
        var spec = try job.spec()
        spec.scoring.lambda = 1000
        let submitted = try await coordinator.submit(spec)
        let totalUnits = submitted.units

        var rng = SplitMix64(seed: seed)
        let workers = ["a", "b", "c"]
        var held: [String: LeaseGrant] = [:]        // what each worker believes it holds
        var stale: [(String, LeaseGrant)] = []       // grants whose lease may have expired
        var accepted: [Int64: Int] = [:]             // unit → accepted completions
        var failedFor = Set<Int64>()
        var steps = 0
        while steps < 5000 {
            steps += 1
            let status = try await coordinator.status(job: "test-job")
            if status.units.isFinished && held.isEmpty { break }
            let w = workers[Int(rng.next(upperBound: 3))]
            switch rng.next(upperBound: 10) {
            case 0...2: // lease
                if held[w] == nil, let g = try await coordinator.lease(worker: w, host: "h").grant { held[w] = g }
            case 3: // heartbeat
                if let g = held[w] { _ = try await coordinator.heartbeat(unit: g.unit, worker: w) }
            case 4: // time passes, maybe past lease expiry
                clock.advance(Double(rng.next(upperBound: 14)))
            case 5...7: // complete what we hold (possibly after our lease expired)
                if let g = held.removeValue(forKey: w) {
                    do {
                        let outcome = try await coordinator.complete(unit: g.unit, CompletionRequest(worker: w, attempt: g.attempt, results: results(g.count, marker: Float(g.unit)), computeSeconds: 0, waitSeconds: 0))
                        if outcome == .accepted { accepted[g.unit, default: 0] += 1 }
                    } catch {
                        guard Self.isNotHolder(error) else { throw error }
                        stale.append((w, g))
                    }
                }
            case 8: // a late duplicate from an old grant
                if let (sw, g) = stale.popLast() {
                    do {
                        let outcome = try await coordinator.complete(unit: g.unit, CompletionRequest(worker: sw, attempt: g.attempt, results: results(g.count, marker: -1), computeSeconds: 0, waitSeconds: 0))
                        if outcome == .accepted { accepted[g.unit, default: 0] += 1 }
                    } catch {
                        guard Self.isNotHolder(error) else { throw error }
                    }
                }
            default: // fail
                if let g = held.removeValue(forKey: w), rng.next(upperBound: 3) == 0 {
                    if try await coordinator.fail(unit: g.unit, worker: w, error: "injected") == .failed { failedFor.insert(g.unit) }
                } else if let g = held[w] {
                    held[w] = g
                }
            }
        }
        // Drain: one well-behaved worker finishes whatever is left.
        clock.advance(100)
        while let g = try await coordinator.lease(worker: "drain", host: "h").grant {
            let outcome = try await coordinator.complete(unit: g.unit, CompletionRequest(worker: "drain", attempt: g.attempt, results: results(g.count, marker: Float(g.unit)), computeSeconds: 0, waitSeconds: 0))
            #expect(outcome == .accepted)
            accepted[g.unit, default: 0] += 1
        }
        let status = try await coordinator.status(job: "test-job")
        #expect(status.units.pending == 0 && status.units.leased == 0)
        #expect(status.units.done + status.units.failed == totalUnits)
        #expect(accepted.values.allSatisfy { $0 == 1 }, "a unit was accepted twice")
        #expect(accepted.count == status.units.done)
        #expect(status.units.failed == failedFor.count)
        // Every sample of every done unit has exactly one result, written by the accepted completion.
        for task in try await coordinator.tasks(job: submitted.job) {
            let units = try await coordinator.units(task: task.id)
            let rows = try await coordinator.results(task: task.id)
            #expect(Set(rows.map(\.position)).count == rows.count)
            let donePositions = units.filter { $0.state == .done }.reduce(0) { $0 + $1.sampleCount }
            #expect(rows.count == donePositions)
            for u in units where u.state == .done {
                let mine = rows.filter { $0.position >= u.firstSample && $0.position < u.firstSample + u.sampleCount }
                #expect(mine.allSatisfy { $0.conf == Float(u.id) }, "unit \(u.id) has results from a refused completion")
            }
        }
    }
}
