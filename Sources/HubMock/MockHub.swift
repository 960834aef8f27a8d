import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A local stand-in for the Hugging Face Hub, written from its documented behaviour, on
/// 127.0.0.1 only. Two servers: the Hub (resolve URLs, errors with `X-Error-Code`) and a CDN on
/// another port that LFS redirects lead to, so a client that leaks its token across origins is seen.
///
/// What it answers, like the Hub:
/// - `HEAD|GET /{org}/{name}/resolve/{revision}/{file}` with `X-Repo-Commit`;
///   LFS files: 302 to the CDN with `X-Linked-Etag: "<sha256>"` and `X-Linked-Size`;
///   git files: 200 with `ETag: "<git blob id>"` and the body.
/// - unknown repo: 401 `RepoNotFound`; unknown revision: 404 `RevisionNotFound`;
///   unknown file: 404 `EntryNotFound`; gated repo without access: 401/403 `GatedRepo`.
/// - `GET /blobs/<sha256>/<file>` on the CDN, with `Range: bytes=N-` answered by 206.
public final class MockHub: Sendable {
    public let hubURL: URL
    public let cdnURL: URL
    private let state: MockHubState
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(hubURL: URL, cdnURL: URL, state: MockHubState, group: ServiceGroup, task: Task<Void, any Error>) {
        self.hubURL = hubURL
        self.cdnURL = cdnURL
        self.state = state
        self.group = group
        self.task = task
    }

    /// Starts both servers on free ports (or the given ones) and returns once they listen.
    public static func start(repos: [String: MockRepo], hubPort: Int = 0, cdnPort: Int = 0) async throws -> MockHub {
        let state = MockHubState(repos: repos)
        var logger = Logger(label: "mock-hub")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: (String, Int).self)
        let cdnLink = CDNLink()
        let hub = Application(router: HubRoutes.hubRouter(state: state, cdn: cdnLink),
                              configuration: .init(address: .hostname("127.0.0.1", port: hubPort)),
                              onServerRunning: { continuation.yield(("hub", $0.localAddress?.port ?? 0)) }, logger: logger)
        let cdn = Application(router: HubRoutes.cdnRouter(state: state),
                              configuration: .init(address: .hostname("127.0.0.1", port: cdnPort)),
                              onServerRunning: { continuation.yield(("cdn", $0.localAddress?.port ?? 0)) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [hub, cdn], logger: logger))
        let task = Task { try await group.run() }
        var found: [String: Int] = [:]
        for await (name, port) in ports {
            found[name] = port
            if found.count == 2 { break }
        }
        guard let hubBound = found["hub"], let cdnBound = found["cdn"],
              let hubURL = URL(string: "http://127.0.0.1:\(hubBound)"), let cdnURL = URL(string: "http://127.0.0.1:\(cdnBound)") else {
            await group.triggerGracefulShutdown()
            throw MockHubError.notStarted
        }
        await cdnLink.set(cdnURL)
        return MockHub(hubURL: hubURL, cdnURL: cdnURL, state: state, group: group, task: task)
    }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Queues a fault for the next request of `file` (its name in the repo) on `server`.
    public func inject(_ fault: MockFault, on server: MockServer, file: String) async {
        await state.inject(fault, server: server, file: file)
    }

    /// Replaces or adds a repo (a branch moved, a commit pushed).
    public func setRepo(_ name: String, _ repo: MockRepo) async {
        await state.setRepo(name, repo)
    }

    public func requests() async -> [RecordedRequest] { await state.log }
}

public enum MockHubError: Error {
    case notStarted
}

/// The CDN's address, known only once it listens, which is after the Hub's router is built.
actor CDNLink {
    private var url: URL?
    func set(_ url: URL) { self.url = url }
    func get() -> URL? { url }
}
