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
    /// Bearer token every request must carry; nil only on loopback.
    public var token: String?
    /// Largest accepted request body (results of a unit, a bank delta).
    public var maxBodyBytes: Int = 64 << 20

    public init(host: String = "127.0.0.1", port: Int = 7878, token: String? = nil, maxBodyBytes: Int = 64 << 20) {
        self.host = host
        self.port = port
        self.token = token
        self.maxBodyBytes = maxBodyBytes
    }

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

public enum ServerSetupError: Error, CustomStringConvertible {
    case tokenRequired(host: String)

    public var description: String {
        switch self {
        case let .tokenRequired(host):
            "refusing to listen on \(host) without authentication: pass --token-file, or listen on 127.0.0.1"
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
    if options.token == nil && !options.isLoopback { throw ServerSetupError.tokenRequired(host: options.host) }
    let router = Router()
    router.add(middleware: RequestLimits(maxBodyBytes: options.maxBodyBytes))
    if let token = options.token { router.add(middleware: BearerAuthentication(token: token)) }
    ObservabilityRoutes(coordinator: coordinator).register(on: router) // before the API: it times bank syncs
    CoordinatorRoutes(coordinator: coordinator, maxBodyBytes: options.maxBodyBytes).register(on: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: "adaneg-coordinator"),
        onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) },
        logger: logger
    )
}

/// Rejects requests without `Authorization: Bearer <token>`.
///
/// `GET /v1/health` is the one exception: orchestrators (Kubernetes probes, load balancers)
/// cannot carry a secret, and the answer reveals nothing but that the process is up.
struct BearerAuthentication<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .get && request.uri.path == "/v1/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization], Self.bearer(header).map(String.init) == token else {
            throw HTTPError(.unauthorized, message: "missing or wrong bearer token")
        }
        return try await next(request, context)
    }

    /// The credentials of an `Authorization: Bearer <token>` header. The scheme name is
    /// case-insensitive (RFC 7235 §2.1), so `bearer` and `BEARER` work too; the token is not.
    static func bearer(_ header: String) -> Substring? {
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " "), trimmed[..<space].lowercased() == "bearer" else { return nil }
        return trimmed[space...].drop { $0 == " " }
    }
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
