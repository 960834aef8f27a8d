import Foundation
import JobClient
import JobProtocol

/// `clients` no-op workers on `url`, each leasing a unit and completing it at once with
/// placeholder results until none is left: the lease + complete round-trip loop of the plain
/// benchmark (`main.swift`) and of the TLS comparison (`TLSBench`). Counts the completions.
func leaseCompleteRoundTrips(url: URL, caFile: String? = nil, clients: Int, count: LockedCounter) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for c in 0..<clients {
            group.addTask {
                let client = CoordinatorClient(base: url, caFile: caFile)
                while let grant = try await client.lease(worker: "c\(c)", host: "bench").grant {
                    let n = grant.count
                    let r = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0.5, count: n),
                                        confVanilla: Array(repeating: 0.5, count: n), mcm: Array(repeating: 0.5, count: n),
                                        adaptive: Array(repeating: 0.5, count: n), errors: Array(repeating: nil, count: n))
                    _ = try await client.complete(unit: grant.unit, CompletionRequest(worker: "c\(c)", attempt: grant.attempt, results: r, computeSeconds: 0, waitSeconds: 0))
                    count.increment()
                }
            }
        }
        try await group.waitForAll()
    }
}
