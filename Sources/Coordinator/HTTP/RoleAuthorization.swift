import Hummingbird

/// Who is calling: the token a request was let in with, for the routes that record it (a job
/// keeps the name of the token that submitted it) or depend on it (`submit` cancels only its
/// own jobs). Set by `RoleAuthorization` for the rest of the request; nil when the coordinator
/// runs without tokens (loopback only).
public enum RequestCaller {
    @TaskLocal public static var current: AccessToken?
}

/// Lets a request through when its bearer token is known and its role may call the route
/// (`AccessPolicy`): 401 for a missing or unknown token, 403 naming the roles the route needs
/// for a known one without them. `GET /v1/health` needs no token: orchestrators' probes cannot
/// carry one, and the answer says only that the process is up.
struct RoleAuthorization<Context: RequestContext>: RouterMiddleware {
    let registry: TokenRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let method = request.method.rawValue
        let path = request.uri.path
        let (route, roles) = AccessPolicy.roles(method: method, path: path)
        if roles.isEmpty { return try await next(request, context) }
        guard let header = request.headers[.authorization], let secret = Self.bearer(header), !secret.isEmpty,
              let token = registry.current.match(secret: secret) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer"], message: "missing or unknown bearer token")
        }
        guard roles.contains(token.role) else {
            throw HTTPError(.forbidden, message: "token '\(token.name)' has role \(token.role.rawValue); \(route ?? "\(method) \(path)") needs role \(AccessPolicy.describe(roles))")
        }
        return try await RequestCaller.$current.withValue(token) { try await next(request, context) }
    }

    /// The credentials of an `Authorization: Bearer <token>` header. The scheme name is
    /// case-insensitive (RFC 7235 §2.1), so `bearer` and `BEARER` work too; the token is not.
    static func bearer(_ header: String) -> Substring? {
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " "), trimmed[..<space].lowercased() == "bearer" else { return nil }
        return trimmed[space...].drop { $0 == " " }
    }
}
