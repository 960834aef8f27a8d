import AsyncHTTPClient
import Foundation
import JobClient
import JobPlan
import JobProtocol
import NIOCore
import NIOFoundationCompat
import Platform

/// Why an image's bytes could not be had; becomes the sample's error in the results.
public enum FetchError: Error, Equatable, CustomStringConvertible {
    case badReference(String)
    case missing(String)
    case unreadable(String, reason: String)
    case http(String, status: Int)
    case network(String, reason: String)
    case tooLarge(String, bytes: Int, limit: Int)

    public var description: String {
        switch self {
        case let .badReference(ref): "\(ref): not a file:// or http(s):// URL"
        case let .missing(ref): "\(ref): no such file"
        case let .unreadable(ref, reason): "\(ref): cannot read: \(reason)"
        case let .http(ref, status): "\(ref): HTTP \(status)"
        case let .network(ref, reason): "\(ref): \(reason)"
        case let .tooLarge(ref, bytes, limit): "\(ref): \(bytes) bytes exceeds the limit of \(limit)"
        }
    }
}

/// Reads image bytes from `file://` and `http(s)://` references, many at a time but a bounded
/// number at once, with per-request timeouts and retries (with backoff) for failures that may
/// pass: timeouts, dropped connections, 5xx and 429 responses.
public struct ImageFetcher: Sendable {
    public var timeout: Double
    public var attempts: Int
    public var maxConcurrent: Int
    public var maxBytes: Int
    /// First retry delay; doubles per retry.
    public var backoff: Double
    /// A pool allowing `maxConcurrent` connections per host (a smaller one would queue
    /// requests to one image server behind each other).
    private let http: HTTPClient

    public init(timeout: Double = 30, attempts: Int = 3, maxConcurrent: Int = 8, maxBytes: Int = 64 << 20, backoff: Double = 0.25) {
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxBytes = maxBytes
        self.backoff = backoff
        http = SharedHTTPClient.client(.init(connectTimeout: min(timeout, 10), connectionsPerHost: self.maxConcurrent))
    }

    /// Fetches every reference; the results are in input order.
    public func fetchAll(_ refs: [String]) async -> [Result<Data, FetchError>] {
        var out = [Result<Data, FetchError>?](repeating: nil, count: refs.count)
        await withTaskGroup(of: (Int, Result<Data, FetchError>).self) { group in
            var next = 0
            func startOne() {
                let i = next
                next += 1
                group.addTask { (i, await self.fetch(refs[i])) }
            }
            while next < min(refs.count, maxConcurrent) { startOne() }
            for await (i, result) in group {
                out[i] = result
                if next < refs.count { startOne() }
            }
        }
        return out.map { $0 ?? .failure(.network("", reason: "not fetched")) }
    }

    public func fetch(_ ref: String) async -> Result<Data, FetchError> {
        guard let url = URL(string: ref), let scheme = url.scheme?.lowercased() else { return .failure(.badReference(ref)) }
        switch scheme {
        case "file":
            // Off the cooperative pool: a slow disk must not stall the worker's other tasks.
            let path = url.path, limit = maxBytes
            return await BlockingIO.run { Self.readFile(path, ref: ref, maxBytes: limit) }
        case "http", "https": return await download(url, ref: ref)
        default: return .failure(.badReference(ref))
        }
    }

    /// A local image: a regular file (a FIFO or a device is that sample's error, never a read
    /// that blocks or never ends), at most `maxBytes` long.
    static func readFile(_ path: String, ref: String, maxBytes: Int) -> Result<Data, FetchError> {
        do {
            try RegularFile.check(path)
        } catch {
            return .failure(error.problem == .missing ? .missing(ref) : .unreadable(ref, reason: error.reason))
        }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > maxBytes {
            return .failure(.tooLarge(ref, bytes: size, limit: maxBytes))
        }
        do {
            return .success(try RegularFile.read(path, maxBytes: maxBytes))
        } catch {
            return .failure(error.problem == .missing ? .missing(ref) : .unreadable(ref, reason: error.reason))
        }
    }

    private func download(_ url: URL, ref: String) async -> Result<Data, FetchError> {
        var last = FetchError.network(ref, reason: "not attempted")
        for attempt in 0..<attempts {
            if attempt > 0 {
                try? await Task.sleep(nanoseconds: UInt64(backoff * Double(1 << (attempt - 1)) * 1e9))
            }
            do {
                let response = try await http.execute(HTTPClientRequest(url: url.absoluteString),
                                                      timeout: .nanoseconds(Int64(min(max(timeout, 0.001), 86_400) * 1e9)))
                let status = Int(response.status.code)
                if (200..<300).contains(status) {
                    // Refused before reading when the size is declared; otherwise reading
                    // stops at the limit instead of buffering a huge body.
                    if let declared = response.headers.first(name: "Content-Length").flatMap(Int.init), declared > maxBytes {
                        return .failure(.tooLarge(ref, bytes: declared, limit: maxBytes))
                    }
                    do {
                        return .success(Data(buffer: try await response.body.collect(upTo: maxBytes)))
                    } catch is NIOTooManyBytesError {
                        return .failure(.tooLarge(ref, bytes: maxBytes + 1, limit: maxBytes))
                    }
                }
                last = .http(ref, status: status)
                if status != 429 && status < 500 { return .failure(last) }
            } catch {
                last = .network(ref, reason: CoordinatorClient.transportReason(error))
            }
        }
        return .failure(last)
    }
}
