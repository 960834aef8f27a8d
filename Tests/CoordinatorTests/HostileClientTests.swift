import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
@testable import JobStore
import NPY
import Testing
import Worker
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 13: nothing a client sends can crash the coordinator or poison a result.
@Suite("Hostile clients", .serialized)
struct HostileClientTests {
    static let shape = SyntheticBenchmark.Shape(classes: 5, negatives: 20, dimension: 8, idSamples: 30, oodSamples: 20)

    func post(_ cluster: TestCluster, _ path: String, _ body: Data, authorization: String? = nil) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(cluster.port)\(path)")!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    static func valid(_ n: Int) -> UnitResults {
        UnitResults(pred: Array(repeating: 1, count: n), conf: Array(repeating: 0.7, count: n), confVanilla: Array(repeating: 0.6, count: n),
                    mcm: Array(repeating: 0.5, count: n), adaptive: Array(repeating: 0.65, count: n), errors: Array(repeating: nil, count: n))
    }

    @Test("a spec built in code with Int.max sizes is refused by the planner and nothing is stored")
    func plannerRefusesOverflow() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape)
            for mutate: (inout JobSpec) -> Void in [
                { $0.scoring.batchSize = .max }, { $0.unitBatches = .max }, { $0.syncEvery = .max },
                { $0.scoring.memoryLength = .max }, { $0.scoring.memoryLength = 1_000_000 },
            ] {
                var spec = try job.spec()
                mutate(&spec)
                await #expect(throws: StoreError.self) { try await cluster.coordinator.submit(spec) }
            }
            #expect(try await cluster.coordinator.jobs().isEmpty)
        }
    }

    @Test("the memory estimate: checked, and refused with the sizes named when it does not fit")
    func memoryEstimate() throws {
        var p = ScoringParameters()
        p.memoryLength = 1024
        let estimate = try #require(MemoryEstimate(labelCount: 11_000, dimension: 512, unitSize: 2048, parameters: p))
        // 11000 × 1023 × (2048 + 24) bytes of bank slots, plus one proxy per row.
        #expect(estimate.bankBytes == 11_000 * 1023 * 2072 + 11_000 * 2048)
        #expect(MemoryEstimate(labelCount: Int.max / 2, dimension: 512, unitSize: 1, parameters: p) == nil)
        let message = try #require(MemoryEstimate.problem(labelCount: 11_000, dimension: 512, unitSize: 2048, parameters: p, availableBytes: 1 << 30))
        #expect(message.contains("lower memleng") && message.contains("GB"))
        #expect(MemoryEstimate.problem(labelCount: 11_000, dimension: 512, unitSize: 2048, parameters: ScoringParameters(), availableBytes: 1 << 30) == nil)
    }

    @Test("a worker refuses a plan with absurd values before it allocates anything")
    func workerPlanCheck() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            var plan = try await cluster.coordinator.plan(job: submitted.job)
            #expect(plan.problems(availableBytes: 1 << 34).isEmpty)
            plan.scoring.memoryLength = .max
            #expect(plan.problems(availableBytes: 1 << 34).contains { $0.contains("memleng") })
            plan.scoring.memoryLength = 1000
            plan.labelCount = 1 << 40
            #expect(plan.problems(availableBytes: 1 << 34).contains { $0.hasPrefix("memory:") })
            plan.unitBatches = .max
            #expect(plan.unitSize == 0 && !plan.problems(availableBytes: 1 << 34).isEmpty)
        }
    }

    /// One hostile value per case, each in a field of an otherwise valid completion.
    enum Hostile: String, CaseIterable, Sendable {
        case predNegative, predHuge, conf1e38, confNaN, mcm2, vanillaNegative, adaptiveInfinite
        case computeNegative, waitNaN, bankBeyondPlan, bankNegative

        func apply(_ r: inout CompletionRequest) {
            switch self {
            case .predNegative: r.results.pred[0] = -5
            case .predHuge: r.results.pred[1] = 99_999
            case .conf1e38: r.results.conf[2] = 1e38
            case .confNaN: r.results.conf[0] = .nan
            case .mcm2: r.results.mcm[0] = 2
            case .vanillaNegative: r.results.confVanilla[0] = -0.5
            case .adaptiveInfinite: r.results.adaptive[0] = .infinity
            case .computeNegative: r.computeSeconds = -1e308
            case .waitNaN: r.waitSeconds = .nan
            case .bankBeyondPlan: r.bank = BankOccupancy(idRows: 6, negativeRows: 0)
            case .bankNegative: r.bank = BankOccupancy(idRows: 0, negativeRows: -1)
            }
        }
    }

    @Test("completions outside their mathematical range get 400 and change nothing", arguments: Hostile.allCases)
    func completionRejected(hostile: Hostile) async throws {
        let name = hostile.rawValue
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 8, unitBatches: 1)
            _ = try await cluster.coordinator.submit(try job.spec())
            let grant = try #require(try await cluster.coordinator.lease(worker: "w", host: "h").grant)
            var request = CompletionRequest(worker: "w", attempt: grant.attempt, results: Self.valid(grant.count), computeSeconds: 1, waitSeconds: 0,
                                            bank: BankOccupancy(idRows: 2, negativeRows: 3))
            hostile.apply(&request)
            // JSON cannot carry NaN or ∞, so the HTTP form of those cases is exercised through the
            // actor; the finite ones go over HTTP as a hostile client would send them.
            if let body = try? JSONEncoder().encode(request) {
                let (status, message) = try await post(cluster, "/v1/units/\(grant.unit)/complete", body)
                #expect(status == 400, "\(name): \(message)")
            } else {
                await #expect(throws: StoreError.self, "\(name)") { try await cluster.coordinator.complete(unit: grant.unit, request) }
            }
            let unit = try #require(try await cluster.coordinator.units(task: grant.task).first { $0.id == grant.unit })
            #expect(unit.state == .leased && unit.leaseOwner == "w", "\(name): the unit changed")
            #expect(try await cluster.coordinator.results(task: grant.task).isEmpty, "\(name): results were stored")
            // The same unit completes once the values are sane.
            let good = CompletionRequest(worker: "w", attempt: grant.attempt, results: Self.valid(grant.count), computeSeconds: 1, waitSeconds: 0)
            #expect(try await cluster.coordinator.complete(unit: grant.unit, good) == .accepted)
        }
    }

    @Test("features uploads: an overflowing dimension and non-finite values are refused")
    func featureBlocks() {
        #expect(StoredFeatures(dimension: Int.max / 2, rows: [0], errors: [nil], vectors: Data()).problem != nil)
        let nan = StoredFeatures(dimension: 2, features: [[1, .nan]], errors: [nil])
        #expect(nan.problem == "a feature has non-finite values")
        #expect(StoredFeatures(dimension: 2, features: [[1, 0]], errors: [nil]).problem == nil)
    }

    @Test("the bearer scheme is case-insensitive; the token is not")
    func bearerCase() async throws {
        try await TestCluster.with(token: "s3cret") { cluster in
            let body = try JSONEncoder().encode(LeaseRequest(worker: "w", host: "h"))
            for header in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bearer   s3cret"] {
                #expect(try await post(cluster, "/v1/leases", body, authorization: header).0 == 200, "\(header)")
            }
            for header in ["bearer S3CRET", "Basic s3cret", "bearers3cret", "s3cret", "bearer"] {
                #expect(try await post(cluster, "/v1/leases", body, authorization: header).0 == 401, "\(header)")
            }
        }
    }

    @Test("a unit whose leases keep expiring is parked as failed with the reason, after max_attempts")
    func expiredLeasesPark() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-park-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clock = ManualClock()
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path,
                                          configuration: .init(leaseSeconds: 10, maxAttempts: 3, parkExpiredLeases: true), clock: { clock.read() })
        let job = try FeaturesJob(in: dir, shape: Self.shape, batchSize: 8, unitBatches: 1)
        _ = try await coordinator.submit(try job.spec())
        let first = try #require(try await coordinator.lease(worker: "dies-1", host: "h").grant)
        for attempt in 2...3 {
            clock.advance(11)
            let again = try #require(try await coordinator.lease(worker: "dies-\(attempt)", host: "h").grant)
            #expect(again.unit == first.unit && again.attempt == attempt)
        }
        clock.advance(11)
        let next = try await coordinator.lease(worker: "healthy", host: "h").grant
        #expect(next?.unit != first.unit)
        let status = try await coordinator.status(job: "test-job")
        let parked = try #require(status.failed.first)
        #expect(status.failed.count == 1 && parked.unit == first.unit && parked.attempts == 3)
        #expect(parked.error.contains("lease expired 3 times without a completion"))
    }

    @Test("a dead worker process fails its unit: an attempt each, parked after max_attempts with the reason")
    func workerDied() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 8, unitBatches: 1)
            _ = try await cluster.coordinator.submit(try job.spec())
            let c = cluster.coordinator
            var states = [UnitState]()
            var unit: Int64?
            for i in 1...3 {
                let grant = try #require(try await c.lease(worker: "p\(i)", host: "h").grant)
                if let unit { #expect(grant.unit == unit) }
                unit = grant.unit
                let outcome = try await c.workerDied("p\(i)", reason: "worker process p\(i) died of signal 4 (Illegal instruction)")
                #expect(outcome.map(\.unit) == [grant.unit])
                states += outcome.map(\.state)
            }
            #expect(states == [.pending, .pending, .failed])
            let failed = try #require(try await c.status(job: "test-job").failed.first)
            #expect(failed.error == "worker process p3 died of signal 4 (Illegal instruction)")
            #expect(try await c.workerDied("nobody", reason: "x").isEmpty)
        }
    }

    @Test("a restarted coordinator renews current leases instead of expiring them at once")
    func renewAfterRestart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-renew-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clock = ManualClock()
        let path = dir.appendingPathComponent("db.sqlite").path
        let job = try FeaturesJob(in: dir, shape: Self.shape, batchSize: 8, unitBatches: 1)
        let grant: LeaseGrant
        do {
            let before = try Coordinator(databasePath: path, configuration: .init(leaseSeconds: 10, parkExpiredLeases: true), clock: { clock.read() })
            _ = try await before.submit(try job.spec())
            grant = try #require(try await before.lease(worker: "w", host: "h").grant)
        }
        clock.advance(300) // a five-minute outage
        let after = try Coordinator(databasePath: path, configuration: .init(leaseSeconds: 10, parkExpiredLeases: true), clock: { clock.read() })
        #expect(try await after.renewLeasesAfterRestart() == 1)
        #expect(try await after.heartbeat(unit: grant.unit, worker: "w"))
        #expect(try await after.complete(unit: grant.unit, CompletionRequest(worker: "w", attempt: grant.attempt, results: Self.valid(grant.count),
                                                                              computeSeconds: 1, waitSeconds: 300)) == .accepted)
    }
}
