import Foundation
import Hummingbird
@testable import JobClient
@testable import JobPlan
import JobProtocol
import Logging
import NIOCore
import ServiceLifecycle
import Testing
@testable import Worker

/// `ImageFetcher` against a local HTTP server: retries what may pass, not what will not,
/// bounded concurrency, timeouts and size limits; and `file://` reads.
@Suite("Image fetching", .serialized)
struct ImageFetcherTests {
    /// Counts requests per path and tracks the most concurrent ones.
    actor Counter {
        var hits: [String: Int] = [:]
        var inFlight = 0
        var maxInFlight = 0
        func begin(_ path: String) -> Int {
            hits[path, default: 0] += 1
            inFlight += 1
            maxInFlight = max(maxInFlight, inFlight)
            return hits[path] ?? 0
        }
        func end() { inFlight -= 1 }
    }

    /// Serves `/ok/<n>` (bytes "image n" after a short pause), `/flaky` (503 twice, then
    /// bytes), `/gone` (404), `/busy` (429 always), `/slow` (answers after 1.5 s), `/big` (2 KB).
    static func withServer(_ body: @Sendable (Int, Counter) async throws -> Void) async throws {
        let counter = Counter()
        let router = Router()
        router.get("/ok/:n") { _, context in
            let n = context.parameters.get("n") ?? "?"
            _ = await counter.begin("/ok")
            try await Task.sleep(nanoseconds: 20_000_000)
            await counter.end()
            return "image \(n)"
        }
        router.get("/flaky") { _, _ -> Response in
            let hit = await counter.begin("/flaky")
            await counter.end()
            if hit <= 2 { return Response(status: .serviceUnavailable) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "finally")))
        }
        router.get("/gone") { _, _ -> Response in
            _ = await counter.begin("/gone"); await counter.end()
            return Response(status: .notFound)
        }
        router.get("/busy") { _, _ -> Response in
            _ = await counter.begin("/busy"); await counter.end()
            return Response(status: .tooManyRequests)
        }
        router.get("/slow") { _, _ -> String in
            try await Task.sleep(nanoseconds: 1_500_000_000)
            return "late"
        }
        router.get("/big") { _, _ in String(repeating: "x", count: 2048) }
        var logger = Logger(label: "fetch-test")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let server = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        let port = try #require(await it.next())
        do {
            try await body(port, counter)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await server.value
    }

    @Test("HTTP: 5xx is retried until it passes, 404 is not retried, 429 is retried then reported")
    func retries() async throws {
        try await Self.withServer { port, counter in
            let fetcher = ImageFetcher(timeout: 5, attempts: 3, backoff: 0.01)
            let base = "http://127.0.0.1:\(port)"
            let results = await fetcher.fetchAll(["\(base)/flaky", "\(base)/gone", "\(base)/busy"])
            #expect((try? results[0].get()) == Data("finally".utf8))
            #expect(results[1] == .failure(.http("\(base)/gone", status: 404)))
            #expect(results[2] == .failure(.http("\(base)/busy", status: 429)))
            #expect(await counter.hits["/flaky"] == 3)
            #expect(await counter.hits["/gone"] == 1)
            #expect(await counter.hits["/busy"] == 3)
        }
    }

    @Test("at most maxConcurrent requests are in flight; results keep input order")
    func boundedConcurrency() async throws {
        try await Self.withServer { port, counter in
            let fetcher = ImageFetcher(timeout: 5, maxConcurrent: 3)
            let refs = (0..<12).map { "http://127.0.0.1:\(port)/ok/\($0)" }
            let results = await fetcher.fetchAll(refs)
            for (i, r) in results.enumerated() { #expect((try? r.get()) == Data("image \(i)".utf8)) }
            let peak = await counter.maxInFlight
            #expect(peak <= 3 && peak >= 1)
        }
    }

    @Test("a request that outlives its timeout and a body over the size limit end as errors")
    func timeoutAndSize() async throws {
        try await Self.withServer { port, _ in
            let base = "http://127.0.0.1:\(port)"
            // Separate fetchers: only the slow request has a short timeout.
            let big = await ImageFetcher(timeout: 30, attempts: 1, maxBytes: 1024).fetch("\(base)/big")
            let results = [await ImageFetcher(timeout: 0.3, attempts: 1).fetch("\(base)/slow"), big]
            guard case .failure(.network) = results[0] else { Issue.record("slow: \(results[0])"); return }
            #expect(results[1] == .failure(.tooLarge("\(base)/big", bytes: 2048, limit: 1024)))
        }
    }

    @Test("after a request times out, the same fetcher's next requests are answered (no stalled pool)")
    func noStallAfterTimeout() async throws {
        try await Self.withServer { port, _ in
            let base = "http://127.0.0.1:\(port)"
            // One connection per host: a connection left half-used by the timed-out request
            // would hold every later one; the later ones' own 1-s timeout turns a stall into
            // a failure rather than a slow pass.
            let fetcher = ImageFetcher(timeout: 1, attempts: 1, maxConcurrent: 1)
            guard case .failure(.network) = await fetcher.fetch("\(base)/slow") else {
                Issue.record("the slow request did not time out")
                return
            }
            let results = await fetcher.fetchAll((0..<4).map { "\(base)/ok/\($0)" })
            for (i, r) in results.enumerated() { #expect((try? r.get()) == Data("image \(i)".utf8), "\(r)") }
        }
    }

    @Test("file:// references are read; missing files and unknown schemes are errors")
    func files() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-fetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a.jpg")
        try Data("bytes".utf8).write(to: file)
        let missing = dir.appendingPathComponent("none.jpg").absoluteString
        let results = await ImageFetcher().fetchAll([file.absoluteString, missing, "ftp://host/x.jpg"])
        #expect((try? results[0].get()) == Data("bytes".utf8))
        #expect(results[1] == .failure(.missing(missing)))
        #expect(results[2] == .failure(.badReference("ftp://host/x.jpg")))
    }

    @Test("the coordinator client's keep-alive connection gives up on a silent server after its timeout")
    func clientTimeout() async throws {
        try await Self.withServer { port, _ in
            let client = CoordinatorClient(base: URL(string: "http://127.0.0.1:\(port)")!, retryWindow: 0, timeout: 0.3)
            do {
                _ = try await client.send("GET", "/slow", body: nil, contentType: "application/json")
                Issue.record("a request to a silent server returned")
            } catch let error as ClientError {
                #expect("\(error)".contains("no reply from the coordinator within 0.3 s"), "\(error)")
            }
            // The timed-out connection was dropped: the next request gets a fresh one.
            let data = try await client.send("GET", "/ok/7", body: nil, contentType: "application/json")
            #expect(data == Data("image 7".utf8))
        }
    }
}
