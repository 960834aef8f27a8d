import AdaNeg
@testable import Coordinator
import Foundation
import JobClient
import JobPlan
import JobProtocol
@testable import JobSpec
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 22, items 12 and 13: worker ids and host names are checked at the API (length,
/// character set, not empty), and a job spec's body is capped before it is parsed.
@Suite("Coordinator HTTP API: worker names and spec sizes", .serialized)
struct RequestIdentityTests {
    static let shape = SyntheticBenchmark.Shape(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24)

    func post(_ cluster: TestCluster, _ path: String, _ body: Data, contentType: String = "application/json") async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(cluster.port)\(path)")!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    func json(_ object: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: object) }

    static let hostile = ["", "w\u{1b}]0;owned\u{7}", "w\nforged", "w\u{7}", "w with space", "w\u{202e}", String(repeating: "w", count: 254)]

    @Test("every route that names a worker refuses a hostile or empty id with 400 naming the field; nothing is stored")
    func hostileWorkerIDs() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, kinds: [.covered], batchSize: 16, unitBatches: 1)
            _ = try await cluster.coordinator.submit(try job.spec())
            let grant = try #require(try await cluster.client().lease(worker: "owner", host: "node-1.example").grant)
            let none: [Any] = []
            let results: [String: Any] = ["pred": none, "conf": none, "confVanilla": none, "mcm": none, "adaptive": none, "errors": none]
            for id in Self.hostile {
                let bodies: [(String, Data)] = [
                    ("/v1/leases", try json(["worker": id, "host": "h"])),
                    ("/v1/units/\(grant.unit)/heartbeat", try json(["worker": id])),
                    ("/v1/units/\(grant.unit)/fail", try json(["worker": id, "error": "x"])),
                    ("/v1/units/\(grant.unit)/release", try json(["worker": id])),
                    ("/v1/units/\(grant.unit)/complete", try json(["worker": id, "attempt": grant.attempt, "results": results, "computeSeconds": 0, "waitSeconds": 0])),
                ]
                for (path, body) in bodies {
                    let (status, message) = try await post(cluster, path, body)
                    #expect(status == 400, "\(path) with \(id.debugDescription): \(status) \(message)")
                    #expect(message.contains("worker"), "\(path): \(message)")
                    #expect(!message.contains("\u{1b}") && !message.contains("\u{7}"), "the refusal echoes the raw bytes: \(message.debugDescription)")
                }
            }
            let (empty, emptyMessage) = try await post(cluster, "/v1/leases", try json(["worker": "", "host": "h"]))
            #expect(empty == 400 && emptyMessage.contains("worker is empty"), "\(emptyMessage)")
            // Host names too, on the lease that carries them.
            for host in Self.hostile {
                let (status, message) = try await post(cluster, "/v1/leases", try json(["worker": "w2", "host": host]))
                #expect(status == 400 && message.contains("host"), "\(host.debugDescription): \(status) \(message)")
            }
            let known = try await cluster.coordinator.status(job: "test-job").workers.map(\.id)
            #expect(known == ["owner"], "refused requests registered workers: \(known)")
            // The unit is still the owner's.
            #expect(try await cluster.client().heartbeat(unit: grant.unit, worker: "owner"))
        }
    }

    @Test("ids and host names in the allowed set are accepted: host-pid, Slurm, pods, FQDNs")
    func ordinaryNames() {
        for name in ["node-7-1234", "job_12_3", "adaneg-worker-0", "gpu01.cluster.example.org", "user@host:2", "a+b", String(repeating: "w", count: 253)] {
            #expect(WorkerIdentity.problem(name, field: "worker") == nil, "\(name)")
        }
        #expect(WorkerIdentity.problem("w\u{1b}", field: "--id")?.contains("U+001B at position 2") == true)
        #expect(WorkerIdentity.sanitized("my host\u{1b}", fallback: "x") == "my_host_")
        #expect(WorkerIdentity.sanitized("", fallback: "unknown-host") == "unknown-host")
    }

    @Test("lease, heartbeat, fail and release bodies over 64 KiB get 413 naming the limit; a worker shortens long failure messages")
    func smallRequestBodies() async throws {
        try await TestCluster.with() { cluster in
            let nested = try JSONSerialization.data(withJSONObject: ["worker": "w", "host": "h", "x": Array(repeating: [1, 2, 3], count: 30_000)])
            #expect(nested.count > RequestSizes.smallBodyBytes)
            for path in ["/v1/leases", "/v1/units/1/heartbeat", "/v1/units/1/fail", "/v1/units/1/release"] {
                let (status, message) = try await post(cluster, path, nested)
                #expect(status == 413 && message.contains("may be at most \(RequestSizes.smallBodyBytes) bytes"), "\(path): \(status) \(message)")
            }
            #expect(try await cluster.client().lease(worker: "w", host: "h").finished)
            let long = String(repeating: "é", count: 40_000)
            let short = RequestSizes.shortened(long)
            #expect(short.utf8.count <= RequestSizes.errorMessageBytes && short.hasSuffix("more bytes)") && short.hasPrefix("éé"))
            #expect(RequestSizes.shortened("short") == "short")
        }
    }

    @Test("a 404 without adaneg's error body says what to check instead of ending after the status")
    func emptyErrorBody() {
        let text = ClientError.http(status: 404, message: "", path: "/v1/leases").description
        #expect(text.contains("404") && text.contains("no message") && text.contains("scheme, host and port"), "\(text)")
        #expect(ClientError.http(status: 409, message: "not the holder", path: "/x").description.hasSuffix(": not the holder"))
    }

    @Test("a spec body over 1 MiB gets 413 naming the limit, by its length, before it is parsed")
    func oversizedSpec() async throws {
        try await TestCluster.with() { cluster in
            let yaml = "name: big\nblob: " + String(repeating: "x", count: JobSpecLoader.maxSpecBytes) + "\n"
            let (status, message) = try await post(cluster, "/v1/jobs", Data(yaml.utf8), contentType: "application/yaml")
            #expect(status == 413, "\(message)")
            #expect(message.contains("\(JobSpecLoader.maxSpecBytes) bytes"), "\(message)")
            #expect(try await cluster.coordinator.jobs().isEmpty)
            // The coordinator is still there.
            #expect(try await cluster.client().lease(worker: "w", host: "h").finished)
        }
    }

    @Test("a large value under an unknown top-level key is refused with 400 naming the key, and the server goes on")
    func unknownKeyWithLargeValue() async throws {
        try await TestCluster.with() { cluster in
            let items = String(repeating: "  - [aaaaaaaa, bbbbbbbb, cccccccc, dddddddd]\n", count: 20_000)
            let yaml = "name: big\nunknown_payload:\n" + items
            #expect(yaml.utf8.count < JobSpecLoader.maxSpecBytes && yaml.utf8.count > SpecPrescan.fullListingBytes)
            let (status, message) = try await post(cluster, "/v1/jobs", Data(yaml.utf8), contentType: "application/yaml")
            #expect(status == 400, "\(message)")
            #expect(message.contains("unknown key 'unknown_payload'") && message.contains("line 2"), "\(message)")
            #expect(try await cluster.coordinator.jobs().isEmpty)
            #expect(try await cluster.client().lease(worker: "w", host: "h").finished)
        }
    }
}
