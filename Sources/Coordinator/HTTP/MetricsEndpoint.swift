import Foundation
import Hummingbird
import JobPlan
import JobProtocol
import JobStore
import Metrics
import NIOCore
import Prometheus

/// Observability routes: Prometheus metrics at `GET /metrics` and a job's progress (rate, ETA,
/// workers) at `GET /v1/jobs/{name}/progress`, plus the middleware that times bank syncs.
///
/// Each application owns its registry: the global `MetricsSystem` is never bootstrapped, so
/// any number of coordinators (tests, `run`) can live in one process.
struct ObservabilityRoutes {
    let coordinator: Coordinator
    let metrics: CoordinatorMetrics

    init(coordinator: Coordinator) {
        self.coordinator = coordinator
        metrics = CoordinatorMetrics(coordinator: coordinator)
    }

    /// Call before the API's routes are added: a Hummingbird middleware wraps only the routes
    /// added after it, and the timing middleware must wrap the bank-sync route. The bearer
    /// token middleware, added earlier, covers these routes too.
    func register(on router: Router<BasicRequestContext>) {
        router.add(middleware: BankSyncTiming(timer: metrics.bankSync))
        let c = coordinator, m = metrics
        router.get("/metrics") { _, _ -> Response in
            let text = try await m.scrape()
            return Response(status: .ok, headers: [.contentType: CoordinatorMetrics.contentType],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/jobs/:name/progress") { _, context -> JobProgress in
            let name = try context.parameters.require("name")
            return try await c.progress(job: name)
        }
    }
}

extension JobProgress: ResponseEncodable {}

/// The coordinator's Prometheus series. Counts live in the database, so they are read when
/// scraped rather than mirrored on every state change: the exposition is always consistent
/// with what `status` and the report show, also after a coordinator restart.
final class CoordinatorMetrics: Sendable {
    /// Prometheus text exposition format 0.0.4.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    static let bankSyncName = "adaneg_bank_sync_duration_seconds"

    let registry = PrometheusCollectorRegistry()
    /// Recorded through the swift-metrics API by `BankSyncTiming`.
    let bankSync: CoreMetrics.Timer
    private let units: [UnitState: Prometheus.Gauge]
    private let collector: Collector

    init(coordinator: Coordinator) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Self.bankSyncName] = [
            .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        bankSync = CoreMetrics.Timer(label: Self.bankSyncName, dimensions: [], factory: factory)
        var units = [UnitState: Prometheus.Gauge]()
        for state in UnitState.allCases {
            units[state] = registry.makeGauge(descriptor: Self.name("adaneg_units", help: "Work units by state, over all jobs."),
                                              labels: [("state", state.rawValue)])
        }
        self.units = units
        collector = Collector(
            coordinator: coordinator,
            leasesExpired: registry.makeCounter(descriptor: Self.name("adaneg_leases_expired_total", help: "Leases that expired since the coordinator started.")),
            scored: registry.makeCounter(descriptor: Self.name("adaneg_samples_scored_total", help: "Samples with a stored result (errored ones included), over all jobs.")),
            errored: registry.makeCounter(descriptor: Self.name("adaneg_samples_errored_total", help: "Samples whose result is an error (unreadable image), over all jobs.")))
    }

    /// A series name used as it is (no namespace or unit suffix added).
    private static func name(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Reads the counts, updates the series, and renders the exposition.
    func scrape() async throws(StoreError) -> String {
        let totals = try await collector.update()
        for state in UnitState.allCases { units[state]?.set(Double(totals.units[state])) }
        return registry.emitToString()
    }

    /// Serialises scrapes: counters are advanced by the growth of database totals since the
    /// previous scrape, so they stay monotonic whatever the scrape concurrency.
    private actor Collector {
        let coordinator: Coordinator
        let leasesExpired: Prometheus.Counter
        let scored: Prometheus.Counter
        let errored: Prometheus.Counter
        private var last = (expired: 0, scored: 0, errored: 0)

        init(coordinator: Coordinator, leasesExpired: Prometheus.Counter, scored: Prometheus.Counter, errored: Prometheus.Counter) {
            self.coordinator = coordinator
            self.leasesExpired = leasesExpired
            self.scored = scored
            self.errored = errored
        }

        func update() async throws(StoreError) -> CoordinatorTotals {
            let totals = try await coordinator.totals()
            func advance(_ counter: Prometheus.Counter, from old: Int, to new: Int) -> Int {
                if new > old { counter.increment(by: Int64(new - old)) }
                return max(old, new)
            }
            last.expired = advance(leasesExpired, from: last.expired, to: totals.expiredLeases)
            last.scored = advance(scored, from: last.scored, to: totals.results)
            last.errored = advance(errored, from: last.errored, to: totals.errored)
            return totals
        }
    }
}

/// Times `POST /v1/tasks/{task}/bank` (merge, persistence and the reply), failed ones too.
struct BankSyncTiming<Context: RequestContext>: RouterMiddleware {
    let timer: CoreMetrics.Timer

    static func isBankSync(_ request: Request) -> Bool {
        guard request.method == .post else { return false }
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        return parts.count == 4 && parts[0] == "v1" && parts[1] == "tasks" && parts[3] == "bank"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isBankSync(request) else { return try await next(request, context) }
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        return try await next(request, context)
    }
}
