import CCurl
import Foundation

/// The status and headers of one HTTP answer, with header names lowercased (HTTP names are
/// case-insensitive and the Hub's mirrors differ in case).
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: [String: String]
    var url: URL
    /// The start of an error body (the Hub explains some errors there instead of in `X-Error-Message`).
    var errorBody = Data()

    subscript(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why an exchange produced no answer at all: the connection failed or was cut.
struct TransportFailure: Error {
    var reason: String
}

/// Blocking HTTP(S) on libcurl's easy interface: the engine `curl` itself uses (TLS, proxies from
/// `https_proxy`, HTTP/2), called on the caller's thread with a large receive buffer, so a
/// download costs what `curl -o` costs. URLSession on Linux wraps the same library but hands
/// every 16 KB to another thread, which more than halved the speed on loopback.
///
/// Redirects are followed here, not by libcurl, for the two things the Hub protocol needs: a HEAD
/// that stops at the redirect (its headers carry the file's metadata), and a bearer token that is
/// dropped as soon as a redirect leaves the Hub's origin (the CDN must never see it).
enum HTTPExchange {
    /// Called with each piece of a 2xx body; throwing stops the transfer and `run` rethrows.
    typealias Sink = (UnsafeRawBufferPointer) throws -> Void
    /// Called once the final answer's headers are in (status, lowercased headers), before its body.
    typealias AnswerHook = (Int, [String: String]) throws -> Void

    static let maxRedirects = 10

    static func origin(of url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }

    /// Performs `method` on `url`, following redirects unless `followRedirects` is false (then a
    /// 3xx is the answer). `token` is sent only while the request's origin is `trustedOrigin`.
    static func run(_ url: URL, method: String = "GET", headers: [String: String] = [:], token: String?,
                    trustedOrigin: URL, followRedirects: Bool,
                    onAnswer: AnswerHook? = nil, sink: Sink? = nil) throws -> HTTPAnswer {
        CurlGlobal.initialise()
        let trusted = origin(of: trustedOrigin)
        var current = url
        var hops = 0
        while true {
            var sent = headers
            if let token, origin(of: current) == trusted { sent["Authorization"] = "Bearer \(token)" }
            let answer = try CurlTransfer(url: current, method: method, headers: sent).perform(
                onAnswer: { status, fields in
                    if (300..<400).contains(status) && followRedirects { return }
                    try onAnswer?(status, fields)
                }, sink: sink)
            guard followRedirects, (300..<400).contains(answer.status), answer.status != 304,
                  let location = answer["location"], let next = URL(string: location, relativeTo: current)?.absoluteURL else {
                return answer
            }
            hops += 1
            guard hops <= maxRedirects else { throw TransportFailure(reason: "more than \(maxRedirects) redirects") }
            current = next
        }
    }
}

/// `curl_global_init` must run once before any handle, and not concurrently with itself.
enum CurlGlobal {
    private static let once: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()
    static func initialise() { _ = once }
}

/// One request on one easy handle. libcurl calls back into it synchronously from
/// `curl_easy_perform`, on this thread, through the context pointer.
private final class CurlTransfer {
    let url: URL
    let method: String
    let headers: [String: String]
    private var status = 0
    private var fields: [String: String] = [:]
    private var headersDone = false
    private var errorBody = Data()
    private var sinkError: Error?
    private var onAnswer: HTTPExchange.AnswerHook?
    private var sink: HTTPExchange.Sink?

    init(url: URL, method: String, headers: [String: String]) {
        self.url = url
        self.method = method
        self.headers = headers
    }

    func perform(onAnswer: HTTPExchange.AnswerHook?, sink: HTTPExchange.Sink?) throws -> HTTPAnswer {
        guard let handle = curl_easy_init() else { throw TransportFailure(reason: "libcurl could not start a transfer") }
        defer { curl_easy_cleanup(handle) }
        self.onAnswer = onAnswer
        self.sink = sink
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        // An empty Accept-Encoding header is removed: the Hub's sizes and hashes are of the raw bytes.
        list = curl_slist_append(list, "Accept-Encoding:")
        defer { curl_slist_free_all(list) }
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = adaneg_curl_set_string(handle, CURLOPT_URL, url.absoluteString)
        _ = adaneg_curl_set_string(handle, CURLOPT_USERAGENT, "adaneg")
        _ = adaneg_curl_set_list(handle, CURLOPT_HTTPHEADER, list)
        _ = adaneg_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = adaneg_curl_set_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = adaneg_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, 30)
        // A transfer slower than 1 KB/s for a minute is a stalled connection: fail and resume.
        _ = adaneg_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1024)
        _ = adaneg_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, 60)
        _ = adaneg_curl_set_long(handle, CURLOPT_BUFFERSIZE, 512 * 1024)
        if method == "HEAD" { _ = adaneg_curl_set_long(handle, CURLOPT_NOBODY, 1) }
        _ = adaneg_curl_set_callback(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        _ = adaneg_curl_set_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = adaneg_curl_set_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        _ = adaneg_curl_set_pointer(handle, CURLOPT_WRITEDATA, context)
        let code = curl_easy_perform(handle)
        if let sinkError { throw sinkError }
        var code64 = 0
        _ = adaneg_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &code64)
        if code != CURLE_OK {
            // An error status whose body was cut still says what went wrong; a cut 2xx must resume.
            if status >= 300 && headersDone { return answer() }
            throw TransportFailure(reason: Self.describe(code))
        }
        if status == 0 { status = code64 }
        return answer()
    }

    private func answer() -> HTTPAnswer {
        HTTPAnswer(status: status, headers: fields, url: url, errorBody: errorBody)
    }

    static func describe(_ code: CURLcode) -> String {
        switch code {
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_GOT_NOTHING: return "the connection was cut mid-transfer"
        case CURLE_COULDNT_CONNECT: return "cannot connect"
        case CURLE_COULDNT_RESOLVE_HOST: return "host not found"
        case CURLE_OPERATION_TIMEDOUT: return "timed out (stalled transfer)"
        default: return String(cString: curl_easy_strerror(code))
        }
    }

    /// One header line. A status line starts a new response (after a 100 Continue, say) and
    /// resets what was collected; the empty line ends the headers.
    fileprivate func header(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            let parts = trimmed.split(separator: " ", maxSplits: 2)
            status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
            fields = [:]
            headersDone = false
            return
        }
        if trimmed.isEmpty {
            guard !headersDone, status >= 200 else { return }
            headersDone = true
            do { try onAnswer?(status, fields) } catch { sinkError = error }
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = trimmed[..<colon].lowercased()
        fields[name] = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// Returns false to abort the transfer (the sink threw, or the hook did).
    fileprivate func body(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if sinkError != nil { return false }
        if (200..<300).contains(status) {
            guard let sink else { return true }
            do { try sink(bytes) } catch {
                sinkError = error
                return false
            }
        } else if errorBody.count < 65_536 {
            errorBody.append(contentsOf: bytes.prefix(65_536 - errorBody.count))
        }
        return true
    }
}

private func curlHeaderCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: data, count: size * count)
    transfer.header(String(decoding: bytes, as: UTF8.self))
    return size * count
}

private func curlWriteCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.body(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}
