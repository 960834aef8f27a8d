import AdaNegCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// How the coordinator's HTTP server listens and whom it lets in.
public struct ServerOptions: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests, the embedded `run`).
    public var port: Int = 7878
    /// The tokens requests must carry, with their roles (`--tokens`, `--token-file`); nil only
    /// on loopback.
    public var tokens: TokenRegistry?
    /// Certificate and key for HTTPS (`--tls-cert`, `--tls-key`); nil serves plain HTTP.
    public var tls: ReloadableTLS?
    /// What one connection may cost before it is authenticated (timeouts, the connection cap).
    public var limits = ConnectionLimits()
    /// Largest accepted request body (results of a unit, a bank delta).
    public var maxBodyBytes: Int = 64 << 20
    /// Backpressure: counts the requests in progress and defers new leases with a
    /// `retryAfter` from its limit on (`LeaseAdmission`); `LeaseGate(limit: 0)`: never.
    public var leaseGate = LeaseGate()

    /// `token` is one admin token (what `--token-file` gives, named "admin").
    public init(host: String = "127.0.0.1", port: Int = 7878, token: String? = nil, maxBodyBytes: Int = 64 << 20,
                tokens: TokenRegistry? = nil, tls: ReloadableTLS? = nil, limits: ConnectionLimits = ConnectionLimits()) {
        self.host = host
        self.port = port
        self.tokens = tokens ?? token.map { TokenRegistry(AccessTokens([AccessToken(role: .admin, name: "admin", secret: $0)])) }
        self.tls = tls
        self.limits = limits
        self.maxBodyBytes = maxBodyBytes
    }

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// "https" with a certificate, else "http".
    public var scheme: String { tls == nil ? "http" : "https" }
}

public enum ServerSetupError: Error, CustomStringConvertible {
    case tokenRequired(host: String)

    public var description: String {
        switch self {
        case let .tokenRequired(host):
            "refusing to listen on \(host) without authentication: pass --tokens or --token-file, or listen on 127.0.0.1"
        }
    }
}

/// Builds the coordinator's HTTP application: the one function `serve`, `run` and the tests
/// all use. `onRunning` receives the bound port.
public func buildCoordinatorApplication(
    coordinator: Coordinator, options: ServerOptions,
    logger: Logger = Logger(label: "adaneg.http"),
    onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    if options.tokens == nil && !options.isLoopback { throw ServerSetupError.tokenRequired(host: options.host) }
    let router = Router()
    router.add(middleware: RequestLimits(maxBodyBytes: options.maxBodyBytes))
    if let tokens = options.tokens { router.add(middleware: RoleAuthorization(registry: tokens)) }
    router.add(middleware: LeaseAdmission(gate: options.leaseGate))
    ObservabilityRoutes(coordinator: coordinator).register(on: router) // before the API: it times bank syncs
    CoordinatorRoutes(coordinator: coordinator, maxBodyBytes: options.maxBodyBytes).register(on: router)
    return Application(
        router: router,
        server: GuardedHTTPChannel.builder(limits: options.limits, connections: ConnectionCounter(limit: options.limits.maxConnections), tls: options.tls),
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: "adaneg-coordinator"),
        onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) },
        logger: logger
    )
}

/// Refuses bodies larger than the limit up front (413), before any handler reads them.
struct RequestLimits<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw HTTPError(.contentTooLarge, message: "request body of \(length) bytes exceeds the limit of \(maxBodyBytes)")
        }
        return try await next(request, context)
    }
}
