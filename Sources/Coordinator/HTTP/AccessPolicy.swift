/// What a token may do: one of four roles (`serve --tokens`, `adaneg token new --role`).
public enum Role: String, CaseIterable, Sendable, Comparable {
    /// Everything.
    case admin
    /// Submit jobs and sweeps, cancel the jobs it submitted, and read.
    case submit
    /// Lease, a leased unit's rows, plans, artefacts, bank sync, heartbeat, complete, fail, release
    /// (and the same for sweep units).
    case worker
    /// Status, progress, reports (results and plans), metrics.
    case read

    /// Narrowest first (read, worker, submit, admin): the order a 403 names them in.
    private var breadth: Int {
        switch self {
        case .read: 0
        case .worker: 1
        case .submit: 2
        case .admin: 3
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.breadth < b.breadth }
}

/// Which roles may call each route: the one table the server enforces, `openapi.yaml` documents
/// (`x-roles` per operation) and the tests walk. A route missing here needs `admin`, so a
/// route added without a thought for its roles fails closed (and `AccessPolicyTests` names it).
public enum AccessPolicy {
    /// Reading jobs: status, progress, results, the job list, metrics.
    static let readers: Set<Role> = [.admin, .submit, .read]
    /// The worker's calls.
    static let workers: Set<Role> = [.admin, .worker]

    /// "METHOD /path/{param}" (the router's and openapi's spelling) → the roles allowed; an
    /// empty set means no token is needed.
    public static let rules: [String: Set<Role>] = [
        "GET /v1/health": [],
        "GET /v1/jobs": readers,
        "POST /v1/jobs": [.admin, .submit],
        "GET /v1/jobs/{name}": readers,
        "GET /v1/jobs/{name}/results": readers,
        "GET /v1/jobs/{name}/progress": readers,
        // `submit` only for the jobs its token submitted (checked by the route).
        "POST /v1/jobs/{name}/cancel": [.admin, .submit],
        // Reports read the plan (sets, tasks) as well as workers.
        "GET /v1/plans/{job}": readers.union(workers),
        "GET /v1/artefacts/{sha256}": workers,
        "POST /v1/leases": workers,
        "GET /v1/units/{unit}/rows": workers,
        "POST /v1/units/{unit}/heartbeat": workers,
        "POST /v1/units/{unit}/complete": workers,
        "POST /v1/units/{unit}/fail": workers,
        "POST /v1/units/{unit}/release": workers,
        "POST /v1/tasks/{task}/bank": workers,
        // Fleet sweeps (`sweep --coordinator`): submitted as jobs are, scored by workers.
        "POST /v1/sweeps": [.admin, .submit],
        "GET /v1/sweeps/{id}": readers,
        "GET /v1/sweeps/{id}/results": readers,
        "POST /v1/sweep-leases": workers,
        "GET /v1/sweep-units/{unit}/features": workers,
        "POST /v1/sweep-units/{unit}/heartbeat": workers,
        "POST /v1/sweep-units/{unit}/complete": workers,
        "POST /v1/sweep-units/{unit}/fail": workers,
        "GET /metrics": readers,
    ]

    /// The roles allowed to call `method path` (a concrete path such as `/v1/jobs/x/progress`),
    /// and the route it matched; unknown routes need `admin` (the router answers them 404).
    public static func roles(method: String, path: String) -> (route: String?, roles: Set<Role>) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (route, roles) in rules {
            guard let space = route.firstIndex(of: " "), route[..<space] == method else { continue }
            let pattern = route[route.index(after: space)...].split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count else { continue }
            let matches = zip(pattern, segments).allSatisfy { p, s in
                p.hasPrefix("{") && p.hasSuffix("}") ? !s.isEmpty : p == s
            }
            if matches { return (route, roles) }
        }
        return (nil, [.admin])
    }

    /// The roles to name in a 403, narrowest first: "read, submit or admin".
    static func describe(_ roles: Set<Role>) -> String {
        let names = roles.sorted().map(\.rawValue)
        guard names.count > 1 else { return names.first ?? "admin" }
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}
