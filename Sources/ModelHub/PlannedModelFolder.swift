import Foundation

/// A job's model folder as a worker on another machine finds it.
///
/// A job that names a model by Hub id is pinned at submission to the snapshot folder of the
/// commit it resolved to, in the submitting machine's cache
/// (`…/models--org--name/snapshots/<commit>`). That path need not exist on a worker: its cache
/// may live elsewhere, or not hold the model yet. The folder's own name says which repo and
/// commit it is, so the worker resolves that same commit through its own cache (downloading it
/// when needed) and never a branch that may have moved since. The model checksum in the plan
/// is checked after loading either way, so a different model cannot slip in.
public enum PlannedModelFolder {
    /// The repo and commit a `huggingface_hub` snapshot folder holds, or nil when `path` is not
    /// one (a plain folder, a revision that is not a full commit, a malformed repo folder).
    public static func snapshotOrigin(_ path: String) -> (repo: String, commit: String)? {
        let components = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        guard components.count >= 3 else { return nil }
        let commit = components[components.count - 1]
        let snapshots = components[components.count - 2]
        let folder = components[components.count - 3]
        guard snapshots == "snapshots", ModelReference.isCommitHash(commit), folder.hasPrefix("models--") else { return nil }
        // Repo ids cannot contain `--`, so the cache folder's separator is unambiguous.
        let parts = folder.dropFirst("models--".count).components(separatedBy: "--")
        guard parts.count == 2 else { return nil }
        let repo = parts[0] + "/" + parts[1]
        guard ModelReference.isValidRepoID(repo) else { return nil }
        return (repo, commit)
    }

    /// The folder to load for the planned `path`: the path itself when it is a folder here;
    /// otherwise, for a snapshot folder, the same commit through this machine's cache
    /// (`settings`, nil: from the environment), fetched if needed; otherwise the path unchanged,
    /// so the loader reports the missing folder as it always has.
    public static func local(for path: String, settings: HubSettings? = nil) throws(HubError) -> String {
        if ModelReference.directoryExists(path) { return path }
        guard let origin = snapshotOrigin(path) else { return path }
        return try resolveModelReference("\(origin.repo)@\(origin.commit)", settings: settings).folder.path
    }
}
