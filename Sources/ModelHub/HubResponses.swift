import Foundation

/// What the Hub's answer to `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` says about a file.
/// For an LFS file the answer is a redirect whose headers describe the file (`X-Linked-Etag`,
/// `X-Linked-Size`) and whose `Location` is where the bytes are; for a small file it is a 200 with
/// `ETag` and `Content-Length`. Both carry the commit the revision resolved to in `X-Repo-Commit`.
struct FileMetadata: Equatable {
    var commit: String
    var etag: String
    var size: Int64?
    var location: URL
}

/// The Hub's error conventions, mapped to `HubError`: `X-Error-Code` (`RepoNotFound`,
/// `RevisionNotFound`, `EntryNotFound`, `GatedRepo`) decides when present, the status otherwise.
enum HubResponses {
    static func metadata(_ answer: HTTPAnswer, request: URL, repo: String, file: String) throws(HubError) -> FileMetadata {
        guard let commit = answer["x-repo-commit"], ModelReference.isCommitHash(commit.lowercased()) else {
            throw .badResponse(repo: repo, file: file, reason: "no X-Repo-Commit header")
        }
        guard let rawEtag = answer["x-linked-etag"] ?? answer["etag"] else {
            throw .badResponse(repo: repo, file: file, reason: "no ETag header")
        }
        let etag = ExpectedDigest.normalise(etag: rawEtag)
        guard !etag.isEmpty, !etag.contains("/"), etag != ".", etag != ".." else {
            throw .badResponse(repo: repo, file: file, reason: "ETag '\(rawEtag)' cannot name a cache file")
        }
        let size = (answer["x-linked-size"] ?? answer["content-length"]).flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        var location = request
        if (300..<400).contains(answer.status) {
            guard let target = answer["location"], let url = URL(string: target, relativeTo: request)?.absoluteURL else {
                throw .badResponse(repo: repo, file: file, reason: "a redirect without Location")
            }
            location = url
        }
        return FileMetadata(commit: commit.lowercased(), etag: etag, size: size, location: location)
    }

    static func error(for answer: HTTPAnswer, repo: String, revision: String, file: String, settings: HubSettings) -> HubError {
        let code = answer["x-error-code"]
        let endpoint = settings.endpoint.absoluteString
        let hadToken = settings.token != nil
        switch code {
        case "RepoNotFound": return .repoNotFound(repo: repo, endpoint: endpoint, hadToken: hadToken)
        case "RevisionNotFound": return .revisionNotFound(repo: repo, revision: revision)
        case "EntryNotFound": return .fileNotFound(repo: repo, revision: revision, file: file)
        case "GatedRepo": return .gated(repo: repo, endpoint: endpoint, hadToken: hadToken)
        default: break
        }
        switch answer.status {
        case 401: return .repoNotFound(repo: repo, endpoint: endpoint, hadToken: hadToken)
        case 403: return .gated(repo: repo, endpoint: endpoint, hadToken: hadToken)
        case 404: return .fileNotFound(repo: repo, revision: revision, file: file)
        default: return .httpStatus(repo: repo, file: file, status: answer.status, message: message(answer))
        }
    }

    /// 429 and 5xx are the Hub saying "later"; everything else will not change on a retry.
    static func isRetryable(_ status: Int) -> Bool { status == 429 || status == 408 || (500..<600).contains(status) }

    /// `Retry-After` in seconds (the Hub sends seconds, not a date), capped so a hostile value
    /// cannot park a worker for hours.
    static func retryAfter(_ answer: HTTPAnswer) -> Double? {
        guard let value = answer["retry-after"], let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return min(seconds, 300)
    }

    static func message(_ answer: HTTPAnswer) -> String? {
        if let header = answer["x-error-message"], !header.isEmpty { return header }
        if let object = try? JSONSerialization.jsonObject(with: answer.errorBody) as? [String: Any],
           let text = object["error"] as? String {
            return text
        }
        return nil
    }
}
