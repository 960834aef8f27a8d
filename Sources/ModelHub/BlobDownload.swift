import Foundation

/// One file's bytes from the Hub (or its CDN) into `blobs/<etag>`: appended to
/// `blobs/<etag>.incomplete`, resumed from that file's length with `Range` after a cut, hashed
/// while written, and renamed into place only when size and digest match what the Hub announced.
/// A mismatch deletes the partial file, so the next attempt starts clean instead of resuming
/// from corrupt bytes.
struct BlobDownload {
    var repo: String
    var commit: String
    var file: String
    var source: URL
    var etag: String
    var size: Int64?
    var layout: HubCacheLayout
    var settings: HubSettings

    /// Outcome of one attempt that received an answer; retryable outcomes say how long to wait.
    enum Attempt {
        case done
        case retry(after: Double?, HubError)
    }

    /// Downloads with retries; returns the blob's URL.
    func run() throws(HubError) -> URL {
        let blob = layout.blob(etag)
        if FileManager.default.fileExists(atPath: blob.path) { return blob }
        do {
            try FileManager.default.createDirectory(at: layout.blobs, withIntermediateDirectories: true)
        } catch {
            throw .fileSystem(path: layout.blobs.path, reason: "cannot create the cache folder: \(error.localizedDescription)")
        }
        let lock = try CacheLock(layout: layout, name: etag)
        defer { lock.release() }
        // Another process may have finished it while we waited for the lock.
        if FileManager.default.fileExists(atPath: blob.path) { return blob }
        var attempt = 1
        while true {
            switch try once() {
            case .done:
                return blob
            case .retry(let after, let error):
                guard attempt < settings.attempts else { throw error }
                let wait = after ?? settings.backoff(attempt)
                settings.progress?("\(repo): \(file): \(error.shortReason), retrying in \(String(format: "%.1f", wait)) s (attempt \(attempt + 1) of \(settings.attempts))")
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                attempt += 1
            }
        }
    }

    private func once() throws(HubError) -> Attempt {
        let partial = layout.incomplete(etag)
        let writer: PartialFile
        do { writer = try PartialFile(url: partial, expected: ExpectedDigest(etag: etag)) } catch {
            throw .fileSystem(path: partial.path, reason: "cannot open the partial download: \(error.localizedDescription)")
        }
        let start = writer.length
        let meter = ProgressMeter(label: "\(repo) \(file)", total: size, already: start, report: settings.progress)
        let answer: HTTPAnswer
        do {
            answer = try HTTPExchange.run(source, headers: start > 0 ? ["Range": "bytes=\(start)-"] : [:],
                                          token: settings.token, trustedOrigin: settings.endpoint,
                                          followRedirects: true,
                                          onAnswer: { status, headers in
                                              try writer.begin(status: status, contentRange: headers["content-range"])
                                          }, sink: { bytes in
                                              try writer.append(bytes)
                                              meter.advance(by: bytes.count)
                                          })
            // What is still gathered in memory goes to disk here, where a failed write is
            // reported as one (`close()` on the paths below keeps what it can for a resume).
            try writer.flush()
        } catch let failure as TransportFailure {
            writer.close()
            meter.finish(ok: false)
            return .retry(after: nil, .transport(repo: repo, file: file, reason: failure.reason))
        } catch {
            writer.close()
            meter.finish(ok: false)
            throw .fileSystem(path: partial.path, reason: "cannot write the download: \(error.localizedDescription)")
        }
        writer.close()
        meter.finish(ok: (200..<300).contains(answer.status))

        switch answer.status {
        case 200, 206:
            break
        case 416:
            // The partial file is not a prefix the server can continue: start over.
            try? FileManager.default.removeItem(at: partial)
            return .retry(after: 0, .badResponse(repo: repo, file: file, reason: "range not satisfiable"))
        default:
            let error = HubResponses.error(for: answer, repo: repo, revision: commit, file: file, settings: settings)
            if HubResponses.isRetryable(answer.status) { return .retry(after: HubResponses.retryAfter(answer), error) }
            throw error
        }
        if writer.rangeRejected {
            try? FileManager.default.removeItem(at: partial)
            return .retry(after: 0, .badResponse(repo: repo, file: file, reason: "the server resumed at another offset than asked"))
        }
        let length = writer.length
        if let size, length != size {
            if length > size { try? FileManager.default.removeItem(at: partial) }
            if length < size {
                return .retry(after: nil, .transport(repo: repo, file: file, reason: "the answer ended after \(length) of \(size) bytes"))
            }
            throw .sizeMismatch(repo: repo, file: file, expected: size, actual: length)
        }
        let mismatch: String?
        do { mismatch = try writer.digestMismatch() } catch {
            throw .fileSystem(path: partial.path, reason: "cannot read the download back to verify it: \(error.localizedDescription)")
        }
        if let actual = mismatch {
            try? FileManager.default.removeItem(at: partial)
            throw .checksumMismatch(repo: repo, file: file, expected: etag, actual: actual)
        }
        do {
            try FileManager.default.moveItem(at: partial, to: layout.blob(etag))
        } catch {
            throw .fileSystem(path: layout.blob(etag).path, reason: "cannot move the verified download into place: \(error.localizedDescription)")
        }
        return .done
    }
}

extension HubError {
    /// The cause without the advice, for a retry line.
    var shortReason: String {
        switch self {
        case .transport(_, _, let reason), .badResponse(_, _, let reason): return reason
        case .httpStatus(_, _, let status, _): return "HTTP \(status)"
        default: return description
        }
    }
}
