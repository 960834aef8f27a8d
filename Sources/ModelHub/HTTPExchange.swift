import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The status and headers of one HTTP answer, with header names lowercased (HTTP names are
/// case-insensitive and the Hub's mirrors differ in case).
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: [String: String]
    var url: URL
    /// The start of an error body (the Hub explains some errors there instead of in `X-Error-Message`).
    var errorBody: Data = Data()

    init(_ response: HTTPURLResponse, errorBody: Data = Data()) {
        status = response.statusCode
        var lowered: [String: String] = [:]
        for (key, value) in response.allHeaderFields {
            if let key = key as? String, let value = value as? String { lowered[key.lowercased()] = value }
        }
        headers = lowered
        url = response.url ?? URL(fileURLWithPath: "/")
        self.errorBody = errorBody
    }

    subscript(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why an exchange produced no answer at all: the connection failed or was cut.
struct TransportFailure: Error {
    var reason: String
}

/// Blocking HTTP on top of URLSession (libcurl on Linux, so HTTPS, proxies and HTTP/2 come from
/// the system), with the two behaviours the Hub protocol needs that URLSession does not do by
/// default: a HEAD that stops at a redirect (the redirect's headers carry the file's metadata),
/// and a GET that drops the bearer token when a redirect leaves the Hub's origin (the CDN must
/// never see it).
final class HTTPExchange: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    /// Called on the delegate queue with each piece of the body of a 2xx answer; throwing stops
    /// the transfer (a write failed) and the error is reported by `run`.
    typealias Sink = (Data) throws -> Void
    /// Called once with the final answer's status and lowercased headers, before its body.
    typealias AnswerHook = (Int, [String: String]) throws -> Void

    private let followRedirects: Bool
    private let trustedOrigin: String
    private let sink: Sink?
    private let onAnswer: AnswerHook?
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private var answer: HTTPURLResponse?
    private var errorBody = Data()
    private var transportError: Error?
    private var sinkError: Error?

    private init(followRedirects: Bool, trustedOrigin: String, onAnswer: AnswerHook?, sink: Sink?) {
        self.followRedirects = followRedirects
        self.trustedOrigin = trustedOrigin
        self.onAnswer = onAnswer
        self.sink = sink
    }

    static func origin(of url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }

    /// Performs one request and waits for it. `token` is attached only when the request's origin
    /// is `trustedOrigin`. Throws `TransportFailure` when no answer arrived, or rethrows the sink's error.
    static func run(_ request: URLRequest, token: String?, trustedOrigin: URL, followRedirects: Bool,
                    onAnswer: AnswerHook? = nil, sink: Sink? = nil) throws -> HTTPAnswer {
        var request = request
        let trusted = origin(of: trustedOrigin)
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        request.setValue("adaneg", forHTTPHeaderField: "User-Agent")
        if let token, let url = request.url, origin(of: url) == trusted {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        let exchange = HTTPExchange(followRedirects: followRedirects, trustedOrigin: trusted, onAnswer: onAnswer, sink: sink)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        configuration.httpAdditionalHeaders = [:]
        let session = URLSession(configuration: configuration, delegate: exchange, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        exchange.finished.wait()
        return try exchange.outcome()
    }

    private func outcome() throws -> HTTPAnswer {
        lock.lock()
        defer { lock.unlock() }
        if let sinkError { throw sinkError }
        if let answer, transportError == nil || (answer.statusCode >= 300 && answer.statusCode < 400 && !followRedirects) {
            return HTTPAnswer(answer, errorBody: errorBody)
        }
        if let answer, answer.statusCode >= 400 { return HTTPAnswer(answer, errorBody: errorBody) }
        throw TransportFailure(reason: transportError.map(Self.describe) ?? "no answer")
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSURLErrorDomain {
            switch ns.code {
            case NSURLErrorNetworkConnectionLost: return "the connection was cut mid-transfer"
            case NSURLErrorCannotConnectToHost: return "cannot connect"
            case NSURLErrorTimedOut: return "timed out"
            case NSURLErrorCannotFindHost: return "host not found"
            default: break
            }
        }
        return ns.localizedDescription
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        lock.lock()
        answer = http
        lock.unlock()
        if let http, let onAnswer {
            do { try onAnswer(http.statusCode, HTTPAnswer(http).headers) } catch {
                lock.lock()
                sinkError = error
                lock.unlock()
                completionHandler(.cancel)
                return
            }
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        let status = answer?.statusCode ?? 0
        let stopped = sinkError != nil
        lock.unlock()
        if stopped { return }
        if (200..<300).contains(status), let sink {
            do { try sink(data) } catch {
                lock.lock()
                sinkError = error
                lock.unlock()
                dataTask.cancel()
            }
        } else if status >= 300 {
            lock.lock()
            if errorBody.count < 65_536 { errorBody.append(data.prefix(65_536 - errorBody.count)) }
            lock.unlock()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        guard followRedirects else {
            lock.lock()
            answer = response
            lock.unlock()
            completionHandler(nil)
            return
        }
        var next = request
        if let url = next.url, Self.origin(of: url) != trustedOrigin {
            next.setValue(nil, forHTTPHeaderField: "Authorization")
        }
        completionHandler(next)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        if let error, sinkError == nil { transportError = error }
        if answer == nil, let response = task.response as? HTTPURLResponse { answer = response }
        lock.unlock()
        finished.signal()
    }
}
