import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The request handlers of both mock servers.
enum HubRoutes {
    static func hubRouter(state: MockHubState, cdn: CDNLink) -> Router<BasicRequestContext> {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await resolve(request, state: state, cdn: cdn)
        }
        router.get("/api/models/**") { request, _ in try await repoInfo(request, state: state) }
        router.on("/**", method: .head, use: handler)
        router.on("/**", method: .get, use: handler)
        return router
    }

    static func cdnRouter(state: MockHubState) -> Router<BasicRequestContext> {
        let router = Router()
        router.on("/blobs/**", method: .get) { request, _ in try await blob(request, state: state) }
        return router
    }

    /// `/{org}/{name}/resolve/{revision}/{file...}`, each segment percent-decoded (a revision
    /// such as `refs/pr/1` arrives as one `%2F`-encoded segment, as `huggingface_hub` sends it).
    private static func resolve(_ request: Request, state: MockHubState, cdn: CDNLink) async throws -> Response {
        let isHead = request.method == .head
        let auth = request.headers[.authorization]
        await state.record(RecordedRequest(server: .hub, method: request.method.rawValue, path: request.uri.path,
                                           range: request.headers[.range], authorization: auth))
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
            .map { String($0).removingPercentEncoding ?? String($0) }
        guard segments.count >= 5, segments[2] == "resolve" else {
            return error(404, code: nil, message: "Not found")
        }
        let repoName = segments[0] + "/" + segments[1]
        let revision = segments[3]
        let file = segments[4...].joined(separator: "/")
        guard let repo = await state.repos[repoName] else {
            return error(401, code: "RepoNotFound", message: "Repository Not Found for url: \(request.uri.path).")
        }
        if repo.gated {
            let token = auth.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            if token == nil { return error(401, code: "GatedRepo", message: "Access to model \(repoName) is restricted. You must be authenticated to access it.") }
            if token != repo.accessToken { return error(403, code: "GatedRepo", message: "Access to model \(repoName) is restricted and you are not in the authorized list.") }
        }
        guard let commit = repo.commit(for: revision), let files = repo.commits[commit] else {
            return error(404, code: "RevisionNotFound", message: "Invalid rev id: \(revision)")
        }
        guard let entry = files[file] else {
            return error(404, code: "EntryNotFound", message: "\(file) does not exist on \"\(revision)\"")
        }
        if let fault = await state.takeFault(server: .hub, file: file), case .status(let status, let retryAfter) = fault {
            var response = error(status, code: nil, message: "injected")
            if let retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
            return response
        }
        var headers = HTTPFields()
        headers[fieldName("X-Repo-Commit")] = commit
        if entry.lfs {
            guard let cdnURL = await cdn.get() else { return error(503, code: nil, message: "CDN not ready") }
            headers[fieldName("X-Linked-Etag")] = "\"\(entry.sha256)\""
            headers[fieldName("X-Linked-Size")] = "\(entry.data.count)"
            headers[.eTag] = "\"\(entry.gitBlobID)\""
            let escapedFile = file.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? file
            headers[.location] = cdnURL.absoluteString + "/blobs/\(entry.sha256)/\(escapedFile)"
            return Response(status: .found, headers: headers, body: ResponseBody())
        }
        headers[.eTag] = "\"\(entry.gitBlobID)\""
        if repo.redirectGets, !isHead, let cdnURL = await cdn.get() {
            let escapedFile = file.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? file
            headers[.location] = cdnURL.absoluteString + "/blobs/\(entry.sha256)/\(escapedFile)"
            return Response(status: .temporaryRedirect, headers: headers, body: ResponseBody())
        }
        if isHead {
            headers[.contentLength] = "\(entry.data.count)"
            return Response(status: .ok, headers: headers, body: ResponseBody())
        }
        return serve(entry.data, request: request, headers: headers, fault: nil)
    }

    /// `GET /api/models/{org}/{name}/revision/{revision}`: what `snapshot_download` asks first,
    /// the commit (`sha`) and the file list (`siblings`); and `…/tree/{revision}`, the listing
    /// with sizes and LFS ids it asks next.
    private static func repoInfo(_ request: Request, state: MockHubState) async throws -> Response {
        await state.record(RecordedRequest(server: .hub, method: request.method.rawValue, path: request.uri.path,
                                           range: nil, authorization: request.headers[.authorization]))
        let segments = request.uri.path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        guard segments.count >= 4 else { return error(404, code: nil, message: "Not found") }
        let name = segments[2] + "/" + segments[3]
        let isTree = segments.count >= 6 && segments[4] == "tree"
        let revision = segments.count >= 6 && ["revision", "tree"].contains(segments[4]) ? segments[5] : "main"
        guard let repo = await state.repos[name] else {
            return error(401, code: "RepoNotFound", message: "Repository Not Found for url: \(request.uri.path).")
        }
        guard let commit = repo.commit(for: revision), let files = repo.commits[commit] else {
            return error(404, code: "RevisionNotFound", message: "Invalid rev id: \(revision)")
        }
        if isTree {
            let entries: [[String: Any]] = files.keys.sorted().compactMap { path in
                guard let file = files[path] else { return nil }
                var entry: [String: Any] = ["type": "file", "path": path, "size": file.data.count, "oid": file.gitBlobID]
                if file.lfs { entry["lfs"] = ["oid": file.sha256, "size": file.data.count, "pointerSize": 134] }
                return entry
            }
            return json(entries)
        }
        let info: [String: Any] = [
            "_id": commit, "id": name, "modelId": name, "sha": commit, "private": false, "disabled": false,
            "gated": repo.gated ? "auto" : false, "tags": [], "downloads": 0, "likes": 0,
            "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": files.keys.sorted().map { ["rfilename": $0] },
        ]
        return json(info)
    }

    private static func json(_ object: Any) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    private static func blob(_ request: Request, state: MockHubState) async throws -> Response {
        await state.record(RecordedRequest(server: .cdn, method: request.method.rawValue, path: request.uri.path,
                                           range: request.headers[.range], authorization: request.headers[.authorization]))
        let segments = request.uri.path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        guard segments.count >= 3, let data = await state.blob(segments[1]) else {
            return error(404, code: nil, message: "NoSuchKey")
        }
        let file = segments[2...].joined(separator: "/")
        let fault = await state.takeFault(server: .cdn, file: file)
        if case .status(let status, let retryAfter) = fault {
            var response = error(status, code: nil, message: "injected")
            if let retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
            return response
        }
        var headers = HTTPFields()
        headers[.eTag] = "\"\(segments[1])\""
        return serve(data, request: request, headers: headers, fault: fault)
    }

    /// The body, or the part from a `Range: bytes=N-[M]` as a 206; with `.cutAfter` the
    /// connection is closed after that many bytes although the full length was announced.
    private static func serve(_ data: Data, request: Request, headers: HTTPFields, fault: MockFault?) -> Response {
        var headers = headers
        var start = 0
        var end = data.count
        var status = HTTPResponse.Status.ok
        headers[.acceptRanges] = "bytes"
        if let range = request.headers[.range] {
            guard let (from, to) = parseRange(range, size: data.count) else {
                headers[.contentRange] = "bytes */\(data.count)"
                return Response(status: .rangeNotSatisfiable, headers: headers, body: ResponseBody())
            }
            start = from
            end = to
            status = .partialContent
            headers[.contentRange] = "bytes \(from)-\(to - 1)/\(data.count)"
        }
        var bytes = data.subdata(in: start..<end)
        if fault == .corrupt, !bytes.isEmpty { bytes[bytes.count / 2] ^= 0xFF }
        let payload = bytes
        let limit: Int? = if case .cutAfter(let n) = fault { min(n, payload.count) } else { nil }
        let body = ResponseBody(contentLength: payload.count) { writer in
            let stop = limit ?? payload.count
            var offset = 0
            while offset < stop {
                let count = min(1 << 20, stop - offset)
                try await writer.write(ByteBuffer(bytes: payload[offset..<(offset + count)]))
                offset += count
            }
            if limit != nil { throw CutConnection() }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// `bytes=N-` or `bytes=N-M` within the file; nil for anything else (answered with 416).
    static func parseRange(_ header: String, size: Int) -> (Int, Int)? {
        guard header.hasPrefix("bytes=") else { return nil }
        let spec = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard spec.count == 2, let from = Int(spec[0]), from < size else { return nil }
        let to = spec[1].isEmpty ? size : Int(spec[1]).map { min($0 + 1, size) }
        guard let to, to > from else { return nil }
        return (from, to)
    }

    private static func error(_ status: Int, code: String?, message: String) -> Response {
        var headers = HTTPFields()
        if let code { headers[fieldName("X-Error-Code")] = code }
        headers[fieldName("X-Error-Message")] = message
        headers[.contentType] = "application/json"
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message])) ?? Data()
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Header names used here are constants; an invalid one is a bug in this file.
    private static func fieldName(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else { preconditionFailure("invalid header name \(name)") }
        return field
    }
}

/// Thrown mid-body to make the server drop the connection, as a cut network does.
struct CutConnection: Error {}
