import Foundation
import Hummingbird
import JobProtocol
import Synchronization

/// Backpressure at the lease door (issue 26 target a): the coordinator tells a busy fleet when
/// to come back instead of starting more work than it can answer. It counts the requests in
/// progress (leases, rows, bank syncs, completions, every route); while `limit` or more are,
/// a new `POST /v1/leases` is not granted but answered at once, outside the actor and the
/// database, with `finished: false` and `retryAfter` seconds, which `adaneg worker` and the
/// scale simulator wait before asking again. The wait grows with the overload and is jittered,
/// so the deferred workers come back spread out and their units start (and later sync and
/// complete) out of phase: 1,000 workers that start together would otherwise sync and complete
/// in waves of 1,000 requests, and every request of a wave waits for the whole wave.
/// Syncs, completions, heartbeats and releases are never deferred: they finish work already
/// started. Below the limit nothing changes, so small fleets never see a deferral.
struct LeaseAdmission<Context: RequestContext>: RouterMiddleware {
    let gate: LeaseGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .post, request.uri.path == "/v1/leases", let wait = gate.deferral() {
            let body = try JSONEncoder().encode(LeaseResponse(grant: nil, finished: false, retryAfter: wait))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        gate.enter()
        defer { gate.leave() }
        return try await next(request, context)
    }
}

/// The count behind `LeaseAdmission`, and the wait it answers.
public final class LeaseGate: Sendable {
    /// Requests in progress from which a new lease is deferred; 0: never (no backpressure).
    public let limit: Int
    private let inFlight = Atomic<Int>(0)
    private let deferred = Atomic<Int>(0)

    /// The default: off. Measured at 1,000 simulated workers (BENCHMARKS.md, "1,000 workers,
    /// session 4"), deferring leases from 64 requests in progress on made the run slower (31.0
    /// against 27.4 s, the same sync and completion p99s): the waves that make requests wait
    /// are completions and syncs, which are never deferred, and deferred workers sat idle.
    public static let defaultLimit = 0
    /// The longest wait a deferral asks for, in seconds.
    public static let longestWait = 2.0

    public init(limit: Int = LeaseGate.defaultLimit) {
        self.limit = max(0, limit)
    }

    public var requestsInProgress: Int { inFlight.load(ordering: .relaxed) }
    /// Leases deferred so far (`/metrics`, tests).
    public var leasesDeferred: Int { deferred.load(ordering: .relaxed) }

    func enter() { inFlight.wrappingAdd(1, ordering: .relaxed) }
    func leave() { inFlight.wrappingSubtract(1, ordering: .relaxed) }

    /// nil: grant as usual. Otherwise the seconds to wait: 50 ms per `limit` requests in
    /// progress, times a jitter in [0.5, 1.5), at most `longestWait`.
    func deferral() -> Double? {
        let n = inFlight.load(ordering: .relaxed)
        guard limit > 0, n >= limit else { return nil }
        deferred.wrappingAdd(1, ordering: .relaxed)
        return Self.wait(inProgress: n, limit: limit, jitter: Double.random(in: 0..<1))
    }

    /// The wait for `inProgress` requests at `limit`, `jitter` in [0, 1).
    static func wait(inProgress: Int, limit: Int, jitter: Double) -> Double {
        min(longestWait, 0.05 * Double(inProgress) / Double(max(limit, 1)) * (0.5 + jitter))
    }
}
