import JobProtocol
import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore

/// Process-wide AsyncHTTPClient instances, one per connection policy.
///
/// A client owns a connection pool, so it is made once and kept for the life of the process:
/// every `CoordinatorClient` and `ImageFetcher` with the same policy shares its keep-alive
/// connections, and none has to be shut down (the pool is torn down with the process, as
/// `HTTPClient.shared` is).
public enum SharedHTTPClient {
    /// What differs between the project's callers: how long a connection may take to open,
    /// and how many may be open to one host.
    public struct Policy: Hashable, Sendable {
        /// Milliseconds: a `Double` key would make nearly equal policies distinct pools.
        public var connectTimeoutMilliseconds: Int64
        public var connectionsPerHost: Int
        /// Whom https:// connections trust (the system store, plus `--ca-file`).
        public var trust: TLSTrust

        public init(connectTimeout seconds: Double, connectionsPerHost: Int, trust: TLSTrust = TLSTrust()) {
            connectTimeoutMilliseconds = Int64(min(max(seconds, 0.001), 86_400) * 1000)
            self.connectionsPerHost = min(max(connectionsPerHost, 1), 1024)
            self.trust = trust
        }
    }

    private static let clients = NIOLockedValueBox<[Policy: HTTPClient]>([:])

    /// The client for `policy`, made on first use.
    ///
    /// Failed connection attempts are not retried inside the pool: the callers retry with
    /// their own backoff and log each retry, and a one-shot command must see "connection
    /// refused" at once rather than when its deadline passes.
    public static func client(_ policy: Policy) -> HTTPClient {
        clients.withLockedValue { clients in
            if let client = clients[policy] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.timeout.connect = .milliseconds(policy.connectTimeoutMilliseconds)
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = policy.connectionsPerHost
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.decompression = .disabled
            configuration.tlsConfiguration = policy.trust.configuration
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[policy] = client
            return client
        }
    }
}
