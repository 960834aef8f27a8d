import Hummingbird
import Logging
import ServiceLifecycle

/// The coordinator's HTTP server running inside this process on a background task, with the
/// port it bound: how `run`, the benchmarks and the tests start one (`serve` runs the same
/// application in the foreground, with signal handling).
public struct InProcessServer: Sendable {
    /// The bound port (the options may ask for 0: any free port).
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts `buildCoordinatorApplication` and returns once it listens.
    public static func start(coordinator: Coordinator, options: ServerOptions,
                             logger: Logger = Logger(label: "adaneg.http")) async throws -> InProcessServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try buildCoordinatorApplication(coordinator: coordinator, options: options, logger: logger,
                                                  onRunning: { continuation.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            task.cancel()
            throw InProcessServerError.didNotStart
        }
        return InProcessServer(port: port, group: group, task: task)
    }

    /// Stops accepting requests, lets those in flight finish, and waits for the server to end.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Runs `body` against a started server and stops it afterwards, awaited, whether `body`
    /// returned or threw, so the server never outlives its caller.
    public static func serving<T>(coordinator: Coordinator, options: ServerOptions,
                                  logger: Logger = Logger(label: "adaneg.http"),
                                  _ body: (InProcessServer) async throws -> T) async throws -> T {
        let server = try await start(coordinator: coordinator, options: options, logger: logger)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

public enum InProcessServerError: Error, CustomStringConvertible {
    case didNotStart

    public var description: String { "the coordinator's HTTP server did not start" }
}
