import Foundation

/// A CLIP checkpoint resolved to a snapshot folder in the cache.
public struct ResolvedModel: Equatable, Sendable {
    public var repo: String
    /// What was asked for: a branch, tag or commit.
    public var revision: String
    /// What it pointed to: the folder name under `snapshots/`, and what a job pins.
    public var commit: String
    public var folder: URL
    /// Weight shards when the repo has `model.safetensors.index.json` instead of one file.
    public var shards: [String]

    public var isSharded: Bool { !shards.isEmpty }
}

/// Fetches the files a CLIP checkpoint needs from the Hub into the `huggingface_hub` cache, or
/// finds them there. Only those files: a CLIP repo often also holds `pytorch_model.bin`,
/// `tf_model.h5` and `flax_model.msgpack`, each as large as the weights we read.
public struct ModelFetcher: Sendable {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"
    public static let indexFile = "model.safetensors.index.json"
    public static let tokenizerFiles = ["vocab.json", "merges.txt"]

    public var settings: HubSettings

    public init(settings: HubSettings) {
        self.settings = settings
    }

    /// A commit that is complete in the cache is used without asking the network: commits never
    /// change. A branch or tag is asked for (it may have moved) unless offline; if the Hub cannot
    /// be reached, the commit last seen for it is used when complete, as `huggingface_hub` does.
    public func resolve(repo: String, revision: String) throws(HubError) -> ResolvedModel {
        let layout = HubCacheLayout(cache: settings.cache, repo: repo)
        if let commit = layout.cachedCommit(for: revision), let model = complete(layout, repo: repo, revision: revision, commit: commit),
           settings.offline || ModelReference.isCommitHash(revision) {
            return model
        }
        if settings.offline {
            throw .offlineNotCached(repo: repo, revision: revision, cache: settings.cache.path)
        }
        do {
            return try download(layout, repo: repo, revision: revision)
        } catch let error {
            guard case .transport = error, let commit = layout.cachedCommit(for: revision),
                  let model = complete(layout, repo: repo, revision: revision, commit: commit) else { throw error }
            settings.progress?("\(repo)@\(revision): \(error.shortReason); using the cached commit \(commit)")
            return model
        }
    }

    /// The snapshot when every needed file is in it; nil for a partial one. This is what keeps a
    /// half-fetched model from being used: files are linked one by one as they complete.
    func complete(_ layout: HubCacheLayout, repo: String, revision: String, commit: String) -> ResolvedModel? {
        let needed = [Self.configFile] + Self.tokenizerFiles
        guard needed.allSatisfy({ layout.hasSnapshotFile(commit, $0) }) else { return nil }
        var shards: [String] = []
        if !layout.hasSnapshotFile(commit, Self.weightsFile) {
            guard layout.hasSnapshotFile(commit, Self.indexFile),
                  let data = try? Data(contentsOf: layout.snapshotFile(commit, Self.indexFile)),
                  let list = try? ShardIndex.shards(in: data, repo: repo),
                  list.allSatisfy({ layout.hasSnapshotFile(commit, $0) }) else { return nil }
            shards = list
        }
        return ResolvedModel(repo: repo, revision: revision, commit: commit, folder: layout.snapshot(commit), shards: shards)
    }

    private func download(_ layout: HubCacheLayout, repo: String, revision: String) throws(HubError) -> ResolvedModel {
        // The first answer fixes the commit; every later file is asked for at that commit, so a
        // branch that moves while we download cannot mix two versions in one snapshot.
        let config = try metadata(repo: repo, revision: revision, file: Self.configFile)
        let commit = config.commit
        try layout.writeRef(revision, commit: commit)
        try fetch(config, repo: repo, file: Self.configFile, layout: layout)

        var shards: [String] = []
        do {
            let weights = try metadata(repo: repo, revision: commit, file: Self.weightsFile)
            try fetch(weights, repo: repo, file: Self.weightsFile, layout: layout)
        } catch .fileNotFound {
            let index: FileMetadata
            do { index = try metadata(repo: repo, revision: commit, file: Self.indexFile) } catch .fileNotFound {
                throw .noSafetensors(repo: repo, revision: revision)
            }
            try fetch(index, repo: repo, file: Self.indexFile, layout: layout)
            let data: Data
            do { data = try Data(contentsOf: layout.snapshotFile(commit, Self.indexFile)) } catch {
                throw .fileSystem(path: layout.snapshotFile(commit, Self.indexFile).path, reason: "cannot read: \(error.localizedDescription)")
            }
            shards = try ShardIndex.shards(in: data, repo: repo)
            for shard in shards {
                try fetch(try metadata(repo: repo, revision: commit, file: shard), repo: repo, file: shard, layout: layout)
            }
        }
        for file in Self.tokenizerFiles {
            try fetch(try metadata(repo: repo, revision: commit, file: file), repo: repo, file: file, layout: layout)
        }
        return ResolvedModel(repo: repo, revision: revision, commit: commit, folder: layout.snapshot(commit), shards: shards)
    }

    /// Downloads a file unless its blob is already there (another snapshot may share it), then
    /// links it into the snapshot.
    private func fetch(_ meta: FileMetadata, repo: String, file: String, layout: HubCacheLayout) throws(HubError) {
        if !FileManager.default.fileExists(atPath: layout.blob(meta.etag).path) {
            let download = BlobDownload(repo: repo, commit: meta.commit, file: file, source: meta.location, etag: meta.etag,
                                        size: meta.size, layout: layout, settings: settings)
            _ = try download.run()
        }
        try layout.link(file: file, commit: meta.commit, etag: meta.etag)
    }

    /// HEAD on the resolve URL, retried like downloads. Relative redirects (a renamed repo) are
    /// followed; an absolute one is where the bytes are and ends the walk.
    func metadata(repo: String, revision: String, file: String) throws(HubError) -> FileMetadata {
        let escapedRevision = revision.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? revision
        var url = settings.endpoint.appendingPathComponent(repo).appendingPathComponent("resolve")
            .appendingPathComponent(escapedRevision, isDirectory: true)
        for part in file.split(separator: "/") { url = url.appendingPathComponent(String(part)) }
        var attempt = 1
        var hops = 0
        while true {
            let answer: HTTPAnswer
            do {
                answer = try HTTPExchange.run(url, method: "HEAD", token: settings.token, trustedOrigin: settings.endpoint,
                                              followRedirects: false)
            } catch let failure as TransportFailure {
                let error = HubError.transport(repo: repo, file: file, reason: failure.reason)
                guard attempt < settings.attempts else { throw error }
                sleep(before: attempt, error: error, repo: repo, file: file, after: nil)
                attempt += 1
                continue
            } catch {
                throw .transport(repo: repo, file: file, reason: "\(error)")
            }
            if (300..<400).contains(answer.status), let location = answer["location"], URL(string: location)?.host == nil,
               answer["x-repo-commit"] == nil, hops < 5, let next = URL(string: location, relativeTo: url)?.absoluteURL {
                url = next
                hops += 1
                continue
            }
            if (200..<400).contains(answer.status) {
                return try HubResponses.metadata(answer, request: url, repo: repo, file: file)
            }
            let error = HubResponses.error(for: answer, repo: repo, revision: revision, file: file, settings: settings)
            guard HubResponses.isRetryable(answer.status), attempt < settings.attempts else { throw error }
            sleep(before: attempt, error: error, repo: repo, file: file, after: HubResponses.retryAfter(answer))
            attempt += 1
        }
    }

    private func sleep(before attempt: Int, error: HubError, repo: String, file: String, after: Double?) {
        let wait = after ?? settings.backoff(attempt)
        settings.progress?("\(repo): \(file): \(error.shortReason), retrying in \(String(format: "%.1f", wait)) s (attempt \(attempt + 1) of \(settings.attempts))")
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
    }
}

/// `model.safetensors.index.json`: `{"metadata": {...}, "weight_map": {"tensor": "shard file"}}`.
enum ShardIndex {
    /// The distinct shard files, in a stable order, each a plain file name in the repo (a name
    /// with `..` or a leading `/` would escape the snapshot folder).
    static func shards(in data: Data, repo: String) throws(HubError) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = object["weight_map"] as? [String: Any] else {
            throw .badIndex(repo: repo, file: ModelFetcher.indexFile, reason: "no weight_map object")
        }
        var files = Set<String>()
        for (tensor, value) in map {
            guard let file = value as? String, !file.isEmpty, !file.hasPrefix("/"),
                  !file.split(separator: "/").contains("..") else {
                throw .badIndex(repo: repo, file: ModelFetcher.indexFile, reason: "tensor \(tensor) maps to an unusable file name")
            }
            files.insert(file)
        }
        guard !files.isEmpty else { throw .badIndex(repo: repo, file: ModelFetcher.indexFile, reason: "weight_map is empty") }
        return files.sorted()
    }
}
