import Foundation

/// Which of the mock's two servers a request reached.
public enum MockServer: String, Sendable {
    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    case hub
    /// Where LFS redirects lead: `/blobs/<sha256>`, on another port (another origin).
    case cdn
}

/// A failure the mock injects into the next request for a file on one server, to test what the
/// Hub and its CDN do under load or breakage.
public enum MockFault: Sendable, Equatable {
    /// Answer with this status (429 or 5xx) instead, with `Retry-After` seconds when given.
    case status(Int, retryAfter: Int? = nil)
    /// Announce the full length, send this many bytes of the body, then close the connection.
    case cutAfter(Int)
    /// Send the file with one byte flipped (a corrupting proxy), headers unchanged.
    case corrupt
}

/// One request as the mock saw it, for tests to check what the client sent.
public struct RecordedRequest: Sendable, Equatable {
    public var server: MockServer
    public var method: String
    public var path: String
    public var range: String?
    public var authorization: String?
}

/// Repos, pending faults and the request log, shared by both servers.
actor MockHubState {
    var repos: [String: MockRepo]
    private var faults: [String: [MockFault]] = [:]
    private(set) var log: [RecordedRequest] = []
    /// sha256 → bytes, for the CDN.
    private var blobs: [String: Data] = [:]

    init(repos: [String: MockRepo]) {
        self.repos = repos
        self.blobs = repos.values.reduce(into: [:]) { blobs, repo in Self.lfsBlobs(of: repo, into: &blobs) }
    }

    func setRepo(_ name: String, _ repo: MockRepo) {
        repos[name] = repo
        index(repo)
    }

    private func index(_ repo: MockRepo) { Self.lfsBlobs(of: repo, into: &blobs) }

    private static func lfsBlobs(of repo: MockRepo, into blobs: inout [String: Data]) {
        for files in repo.commits.values {
            for file in files.values where file.lfs || repo.redirectGets { blobs[file.sha256] = file.data }
        }
    }

    func blob(_ sha: String) -> Data? { blobs[sha] }

    func inject(_ fault: MockFault, server: MockServer, file: String) {
        faults[Self.key(server, file), default: []].append(fault)
    }

    /// The next fault for a request, consumed.
    func takeFault(server: MockServer, file: String) -> MockFault? {
        let key = Self.key(server, file)
        guard var queue = faults[key], !queue.isEmpty else { return nil }
        let fault = queue.removeFirst()
        faults[key] = queue
        return fault
    }

    func record(_ request: RecordedRequest) { log.append(request) }

    /// CDN faults are keyed by the blob's sha256, since the CDN path does not name the file.
    private static func key(_ server: MockServer, _ file: String) -> String { "\(server.rawValue):\(file)" }
}
