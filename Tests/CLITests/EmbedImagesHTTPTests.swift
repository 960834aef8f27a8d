import Foundation
import Hummingbird
import Logging
import NIOCore
import NPY
import ServiceLifecycle
import Testing

/// `embed-images` reads http(s) references through the worker's `ImageFetcher`, as jobs do:
/// an image fetched over HTTP embeds exactly as the same file read from disk, a 503 is retried,
/// and a 404 is the image's own error (a zero row under `--skip-bad`).
@Suite("embed-images over HTTP", .serialized)
struct EmbedImagesHTTPTests {
    actor Hits {
        var count: [String: Int] = [:]
        func next(_ path: String) -> Int {
            count[path, default: 0] += 1
            return count[path] ?? 0
        }
    }

    @Test("http images embed as their files do; 503 is retried; 404 names the URL and leaves a zero row")
    func httpImages() async throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let file = TextCommandsTests.fixtures.appendingPathComponent("images/drawing.png")
        let bytes = try Data(contentsOf: file)
        let hits = Hits()
        let router = Router()
        router.get("/drawing.png") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes))) }
        router.get("/flaky.png") { _, _ -> Response in
            if await hits.next("/flaky.png") == 1 { return Response(status: .serviceUnavailable) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/gone.png") { _, _ in Response(status: .notFound) }
        var logger = Logger(label: "embed-http-test")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let server = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        let port = try #require(await it.next())
        let base = "http://127.0.0.1:\(port)"
        let list = [file.path, "\(base)/drawing.png", "\(base)/flaky.png", "\(base)/gone.png"]
        try (list.joined(separator: "\n") + "\n").write(toFile: s.path("images.txt"), atomically: true, encoding: .utf8)
        // One image per forward pass: some BLAS kernels (OpenBLAS' Haswell sgemm) round a row
        // differently with its position in a batch, and the rows are compared exactly.
        let args = ["embed-images", "--model", model, "--images", s.path("images.txt"), "--out", s.path("out.npy"), "--skip-bad",
                    "--batch-size", "1"]
        // The binary runs on its own thread: a blocked cooperative thread could starve the server.
        let result: CLI.Result = try await withCheckedThrowingContinuation { done in
            Thread { done.resume(with: Result { try CLI.run(args) }) }.start()
        }
        await group.triggerGracefulShutdown()
        _ = try? await server.value

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("\(base)/gone.png") && result.stderr.contains("HTTP 404"), "\(result.stderr)")
        #expect(await hits.count["/flaky.png"] == 2)
        let (rows, cols, m) = try NPYFile.readMatrix(s.path("out.npy"))
        #expect(rows == 4)
        let row = { (i: Int) in Array(m[(i * cols)..<((i + 1) * cols)]) }
        #expect(row(1) == row(0))
        #expect(row(2) == row(0))
        #expect(row(0).contains { $0 != 0 })
        #expect(row(3).allSatisfy { $0 == 0 })
    }
}
