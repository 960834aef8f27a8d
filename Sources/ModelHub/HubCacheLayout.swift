import Foundation

/// One repo's folder in the `huggingface_hub` cache, laid out exactly as that library does so
/// either tool finds what the other fetched:
///
///     models--org--name/
///       blobs/<etag>              file contents, named by the Hub's ETag (sha256 for LFS files)
///       blobs/<etag>.incomplete   a download in progress (resumed from its length)
///       refs/<revision>           the commit a branch or tag pointed to when last resolved
///       snapshots/<commit>/<file> relative symlink to ../../blobs/<etag>
///
/// A snapshot link is only made after its blob is verified and renamed into place, so a file
/// visible in a snapshot is always complete.
public struct HubCacheLayout: Sendable {
    public let cache: URL
    public let repo: String

    public init(cache: URL, repo: String) {
        self.cache = cache
        self.repo = repo
    }

    /// `models--org--name`: `/` becomes `--`, which repo ids may not contain themselves.
    public var folderName: String { "models--" + repo.replacingOccurrences(of: "/", with: "--") }
    public var folder: URL { cache.appendingPathComponent(folderName, isDirectory: true) }
    public var blobs: URL { folder.appendingPathComponent("blobs", isDirectory: true) }
    public var snapshots: URL { folder.appendingPathComponent("snapshots", isDirectory: true) }
    public var refs: URL { folder.appendingPathComponent("refs", isDirectory: true) }

    public func blob(_ etag: String) -> URL { blobs.appendingPathComponent(etag) }
    public func incomplete(_ etag: String) -> URL { blobs.appendingPathComponent(etag + ".incomplete") }
    public func snapshot(_ commit: String) -> URL { snapshots.appendingPathComponent(commit, isDirectory: true) }
    public func snapshotFile(_ commit: String, _ file: String) -> URL { snapshot(commit).appendingPathComponent(file) }

    /// The commit `revision` stands for in the cache: a full commit id names its own snapshot;
    /// a branch or tag is looked up in `refs/`.
    public func cachedCommit(for revision: String) -> String? {
        if ModelReference.isCommitHash(revision) {
            return FileManager.default.fileExists(atPath: snapshot(revision).path) ? revision : nil
        }
        guard let text = try? String(contentsOf: refs.appendingPathComponent(revision), encoding: .utf8) else { return nil }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return ModelReference.isCommitHash(commit) ? commit : nil
    }

    /// Records where a branch or tag points (a commit id needs no ref), written by rename so a
    /// reader never sees half a hash.
    public func writeRef(_ revision: String, commit: String) throws(HubError) {
        guard revision != commit else { return }
        let ref = refs.appendingPathComponent(revision)
        try Self.writeAtomically(Data(commit.utf8), to: ref)
    }

    /// Links `snapshots/<commit>/<file>` to `blobs/<etag>` with a relative target, as
    /// `huggingface_hub` does, so the cache can be moved or mounted elsewhere as a whole.
    public func link(file: String, commit: String, etag: String) throws(HubError) {
        let link = snapshotFile(commit, file)
        let depth = file.split(separator: "/").count - 1
        let target = String(repeating: "../", count: depth + 2) + "blobs/" + etag
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
            if (try? fm.destinationOfSymbolicLink(atPath: link.path)) == target { return }
            if fm.fileExists(atPath: link.path) || (try? fm.destinationOfSymbolicLink(atPath: link.path)) != nil {
                try fm.removeItem(at: link)
            }
            try fm.createSymbolicLink(atPath: link.path, withDestinationPath: target)
        } catch {
            throw HubError.fileSystem(path: link.path, reason: "cannot link the snapshot file: \(error.localizedDescription)")
        }
    }

    /// A regular file or a link that resolves to one; a dangling link (blob deleted) is not there.
    public func hasSnapshotFile(_ commit: String, _ file: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: snapshotFile(commit, file).path, isDirectory: &isDir) && !isDir.boolValue
    }

    static func writeAtomically(_ data: Data, to url: URL) throws(HubError) {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw HubError.fileSystem(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
