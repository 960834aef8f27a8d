import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import Testing
import Worker
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A clock the test moves by hand: lease expiry and rates without depending on wall time.
final class SettableClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double

    init(_ start: Double) { value = start }

    var now: Double { lock.withLock { value } }
    func set(_ t: Double) { lock.withLock { value = t } }
}

/// `GET /metrics` (Prometheus) and `GET /v1/jobs/{name}/progress` against a live coordinator.
@Suite("Coordinator metrics and progress", .serialized)
struct MetricsEndpointTests {
    static let shape = SyntheticBenchmark.Shape(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24)

    func get(_ cluster: TestCluster, _ path: String, token: String? = nil) async throws -> (status: Int, body: String, contentType: String?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(cluster.port)\(path)")!)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), http?.value(forHTTPHeaderField: "Content-Type"))
    }

    /// Sample lines of a text exposition: `name{labels}` → value.
    static func samples(_ text: String) -> [String: Double] {
        var out = [String: Double]()
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = v
        }
        return out
    }

    /// Results for a granted unit; the first `errored` samples are per-sample errors.
    static func results(_ n: Int, errored: Int = 0) -> UnitResults {
        UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 1, count: n), confVanilla: Array(repeating: 1, count: n),
                    mcm: Array(repeating: 0.5, count: n), adaptive: Array(repeating: 1, count: n),
                    errors: (0..<n).map { $0 < errored ? "cannot decode image" : nil })
    }

    @Test("the exposition holds units by state, expired leases, scored and errored samples and bank-sync latency, with exact values")
    func exposition() async throws {
        let clock = SettableClock(1_000)
        try await TestCluster.with(leaseSeconds: 10, clock: { clock.now }) { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, kinds: [.covered], batchSize: 16, unitBatches: 1)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            #expect(submitted.units == 4) // 64 samples in units of 16
            let client = cluster.client()

            // w1 completes a unit with 3 errored samples; w2 leases one and goes silent.
            let a = try #require(try await client.lease(worker: "w1", host: "h1").grant)
            #expect(try await client.complete(unit: a.unit, CompletionRequest(worker: "w1", attempt: a.attempt, results: Self.results(a.count, errored: 3),
                                                                               computeSeconds: 2, waitSeconds: 0)) == .accepted)
            _ = try #require(try await client.lease(worker: "w2", host: "h2").grant)
            // Two bank syncs through HTTP, timed by the middleware.
            for _ in 0..<2 { _ = try await client.syncBank(task: a.task, BankSyncRequest(since: 0), dimension: Self.shape.dimension) }
            // w2's lease expires; w3's lease request reclaims it and takes a unit.
            clock.set(1_011)
            _ = try #require(try await client.lease(worker: "w3", host: "h3").grant)

            let (status, body, contentType) = try await get(cluster, "/metrics")
            #expect(status == 200)
            #expect(contentType?.hasPrefix("text/plain; version=0.0.4") == true)
            let s = Self.samples(body)
            #expect(s["adaneg_units{state=\"done\"}"] == 1)
            #expect(s["adaneg_units{state=\"leased\"}"] == 1)
            #expect(s["adaneg_units{state=\"pending\"}"] == 2)
            #expect(s["adaneg_units{state=\"failed\"}"] == 0)
            #expect(s["adaneg_leases_expired_total"] == 1)
            #expect(s["adaneg_samples_scored_total"] == 16)
            #expect(s["adaneg_samples_errored_total"] == 3)
            #expect(s["adaneg_bank_sync_duration_seconds_count"] == 2)
            #expect(s["adaneg_bank_sync_duration_seconds_bucket{le=\"+Inf\"}"] == 2)
            #expect((s["adaneg_bank_sync_duration_seconds_sum"] ?? -1) > 0)
            #expect(body.contains("# TYPE adaneg_units gauge") && body.contains("# TYPE adaneg_leases_expired_total counter")
                && body.contains("# TYPE adaneg_bank_sync_duration_seconds histogram"))

            // Counters stay monotonic across scrapes and follow new completions.
            let b = try #require(try await client.lease(worker: "w1", host: "h1").grant)
            _ = try await client.complete(unit: b.unit, CompletionRequest(worker: "w1", attempt: b.attempt, results: Self.results(b.count), computeSeconds: 1, waitSeconds: 0))
            let again = Self.samples(try await get(cluster, "/metrics").body)
            #expect(again["adaneg_samples_scored_total"] == 32 && again["adaneg_samples_errored_total"] == 3)
            #expect(again["adaneg_units{state=\"done\"}"] == 2 && again["adaneg_leases_expired_total"] == 1)
            #expect(again["adaneg_bank_sync_duration_seconds_count"] == 2, "only bank syncs are timed")
        }
    }

    @Test("/metrics and /progress need the bearer token when one is configured")
    func authentication() async throws {
        try await TestCluster.with(token: "s3cret") { (cluster) async throws in
            #expect(try await get(cluster, "/metrics").status == 401)
            #expect(try await get(cluster, "/metrics", token: "wrong").status == 401)
            #expect(try await get(cluster, "/v1/jobs/x/progress").status == 401)
            #expect(try await get(cluster, "/metrics", token: "s3cret").status == 200)
            #expect(try await get(cluster, "/v1/jobs/x/progress", token: "s3cret").status == 404)
        }
    }

    @Test("progress: samples/s over recent completions, ETA, units per task, workers with heartbeat age")
    func progress() async throws {
        let clock = SettableClock(2_000)
        try await TestCluster.with(leaseSeconds: 100, clock: { clock.now }) { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, kinds: [.covered, .uncovered], batchSize: 16, unitBatches: 1)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            #expect(submitted.units == 8 && submitted.samples == 128)
            let client = cluster.client()

            var p = try await cluster.coordinator.progress(job: "test-job")
            #expect(p.throughput == nil && p.etaSeconds == nil && p.remainingSamples == 128)

            // Three completions by w1, at 2010, 2020 and 2040: 32 samples after the first, over 30 s.
            var completed = [Int64]()
            for t in [2_010.0, 2_020, 2_040] {
                clock.set(t - 5)
                let g = try #require(try await client.lease(worker: "w1", host: "h1").grant)
                clock.set(t)
                _ = try await client.complete(unit: g.unit, CompletionRequest(worker: "w1", attempt: g.attempt, results: Self.results(g.count, errored: 1),
                                                                              computeSeconds: 4, waitSeconds: 1))
                completed.append(g.unit)
            }
            // Only one completion so far had its own busy time measured; now w2 holds a unit.
            clock.set(2_050)
            let held = try #require(try await client.lease(worker: "w2", host: "h2").grant)
            clock.set(2_056)
            #expect(try await client.heartbeat(unit: held.unit, worker: "w2"))
            clock.set(2_060)

            p = try await cluster.coordinator.progress(job: "test-job")
            let rate = try #require(p.throughput)
            #expect(rate.basis == "completions" && rate.units == 2 && rate.seconds == 30)
            #expect(abs(rate.samplesPerSecond - 32.0 / 30.0) < 1e-12)
            #expect(p.remainingSamples == 128 - 48)
            #expect(abs((p.etaSeconds ?? -1) - 80.0 / (32.0 / 30.0)) < 1e-9)
            #expect(p.units.done == 3 && p.units.leased == 1 && p.units.pending == 4)
            #expect(p.results == 48 && p.errored == 3)
            #expect(p.now == 2_060)
            #expect(p.tasks.count == 2 && p.tasks.map(\.units.done).reduce(0, +) == 3 && p.tasks.map(\.results).reduce(0, +) == 48)
            let w1 = try #require(p.workers.first { $0.id == "w1" }), w2 = try #require(p.workers.first { $0.id == "w2" })
            #expect(w1.unitsDone == 3 && w1.samplesDone == 48 && w1.leased == 0 && w1.computeSeconds == 12)
            #expect(w1.samplesPerComputeSecond == 4)
            #expect(w1.heartbeatAge == 2_060 - 2_035) // its last lease request
            #expect(w2.leased == 1 && w2.unitsDone == 0 && w2.heartbeatAge == 4 && w2.samplesPerComputeSecond == nil)

            // The same over HTTP.
            let (status, body, _) = try await get(cluster, "/v1/jobs/test-job/progress")
            #expect(status == 200)
            let decoded = try JSONDecoder().decode(JobProgress.self, from: Data(body.utf8))
            #expect(decoded == p)
            #expect(try await get(cluster, "/v1/jobs/nope/progress").status == 404)
        }
    }

    @Test("throughput estimate: completions span, one completion's busy time, nothing")
    func throughputEstimate() {
        #expect(JobProgress.Throughput.estimate([]) == nil)
        let one = JobProgress.Throughput.estimate([CompletionSample(completedAt: 5, samples: 100, busySeconds: 4)])
        #expect(one?.samplesPerSecond == 25 && one?.basis == "busy")
        #expect(JobProgress.Throughput.estimate([CompletionSample(completedAt: 5, samples: 100, busySeconds: nil)]) == nil)
        // Order does not matter; the earliest completion only opens the window.
        let many = JobProgress.Throughput.estimate([
            CompletionSample(completedAt: 30, samples: 10, busySeconds: nil), CompletionSample(completedAt: 10, samples: 999, busySeconds: nil),
            CompletionSample(completedAt: 20, samples: 30, busySeconds: nil),
        ])
        #expect(many?.samplesPerSecond == 2 && many?.units == 2 && many?.seconds == 20)
    }
}
