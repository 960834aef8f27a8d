import Foundation
import Platform

/// Where models are cached and fetched from, read from the same environment variables as
/// `huggingface_hub`, so that adaneg and transformers on one machine share one cache and one login.
public struct HubSettings: Sendable {
    /// The `hub` cache folder holding `models--org--name/`.
    public var cache: URL
    /// The Hub or a mirror of it (`HF_ENDPOINT`), without a trailing slash.
    public var endpoint: URL
    /// Sent as a bearer token to `endpoint` only, never to the host a redirect leads to.
    public var token: String?
    /// `HF_HUB_OFFLINE=1`: answer from the cache or fail, never open a connection.
    public var offline: Bool
    /// Attempts per file for failures worth retrying (429, 5xx, a cut connection).
    public var attempts: Int = 5
    /// Seconds to wait before retry number `n` (1-based) when the server gives no `Retry-After`.
    /// A function so tests can make retries instant without waiting on a clock.
    public var backoff: @Sendable (Int) -> Double = { n in min(30, 0.5 * pow(2, Double(n - 1))) }
    /// Progress lines go here (stderr in the CLI); nil keeps downloads silent.
    public var progress: (@Sendable (String) -> Void)?

    public static let defaultEndpoint = "https://huggingface.co"

    public init(cache: URL, endpoint: URL, token: String? = nil, offline: Bool = false) {
        self.cache = cache
        self.endpoint = endpoint
        self.token = token
        self.offline = offline
    }

    /// `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`, where `HF_HOME`
    /// defaults to `$XDG_CACHE_HOME/huggingface` and then `~/.cache/huggingface`. The token is
    /// `HF_TOKEN`, else the file at `HF_TOKEN_PATH`, else `$HF_HOME/token` (what `hf auth login` writes).
    /// An `HF_ENDPOINT` that is not an http(s) URL is an error rather than a silent fall-back to
    /// the public Hub: someone who set a mirror does not want their traffic to go elsewhere.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws(HubError) -> HubSettings {
        let home = env["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        let xdg = nonEmpty(env["XDG_CACHE_HOME"]).map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent(".cache")
        let hfHome = nonEmpty(env["HF_HOME"]).map { URL(fileURLWithPath: expand($0, home)) }
            ?? xdg.appendingPathComponent("huggingface")
        let cache = nonEmpty(env["HF_HUB_CACHE"] ?? env["HUGGINGFACE_HUB_CACHE"]).map { URL(fileURLWithPath: expand($0, home)) }
            ?? hfHome.appendingPathComponent("hub")
        var endpointText = nonEmpty(env["HF_ENDPOINT"]) ?? defaultEndpoint
        while endpointText.hasSuffix("/") { endpointText.removeLast() }
        guard let endpoint = URL(string: endpointText), ["http", "https"].contains(endpoint.scheme?.lowercased() ?? ""),
              endpoint.host?.isEmpty == false else {
            throw HubError.invalidEndpoint(endpointText)
        }
        let tokenFile = nonEmpty(env["HF_TOKEN_PATH"]).map { URL(fileURLWithPath: expand($0, home)) }
            ?? hfHome.appendingPathComponent("token")
        let token = nonEmpty(env["HF_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines))
            // A FIFO or a device there would block or never end: only a regular file is read.
            ?? nonEmpty((try? RegularFile.read(tokenFile.path, maxBytes: 1 << 20)).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines))
        return HubSettings(cache: cache, endpoint: endpoint, token: token, offline: isTrue(env["HF_HUB_OFFLINE"]))
    }

    /// `huggingface_hub` accepts 1/ON/YES/TRUE in any case for its boolean variables.
    static func isTrue(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["1", "on", "yes", "true"].contains(value.trimmingCharacters(in: .whitespaces).lowercased())
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    private static func expand(_ path: String, _ home: URL) -> String {
        path == "~" ? home.path : path.hasPrefix("~/") ? home.path + path.dropFirst(1) : path
    }
}
