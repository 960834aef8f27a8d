import Foundation

/// Turns a `--model` value or a job's `model:` into the folder the CLIP loader reads: an existing
/// folder as is, `org/name[@revision]` as its snapshot in the Hugging Face cache, downloaded
/// first when needed. Settings come from the environment (`HF_HOME`, `HF_HUB_CACHE`,
/// `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`); download progress goes to stderr.
///
/// Commands call this at their edge, before loading, so nothing past it knows models have names.
public func resolveModel(_ ref: String) throws -> URL {
    try resolveModelReference(ref).folder
}

/// `resolveModel` with the commit it pinned (nil for a local folder), for callers that record it.
public func resolveModelReference(_ ref: String, settings: HubSettings? = nil) throws(HubError) -> (folder: URL, resolved: ResolvedModel?) {
    switch ModelReference.parse(ref) {
    case .folder(let path):
        return (URL(fileURLWithPath: (path as NSString).expandingTildeInPath, isDirectory: true), nil)
    case .hub(let repo, let revision):
        var chosen: HubSettings
        if let settings { chosen = settings } else { chosen = try HubSettings.fromEnvironment() }
        if chosen.progress == nil { chosen.progress = StandardErrorLines.write }
        let model = try ModelFetcher(settings: chosen).resolve(repo: repo, revision: revision)
        return (model.folder, model)
    }
}

/// Progress and retry lines on stderr, so stdout stays the command's output (`tokenize` prints JSON).
enum StandardErrorLines {
    @Sendable static func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
