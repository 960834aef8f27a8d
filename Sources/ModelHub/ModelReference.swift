import Foundation

/// What a `--model` value or a job's `model:` names: a folder on this machine, or a repository on
/// the Hugging Face Hub at a revision (branch, tag or commit).
///
/// The same string can look like both (`models/clip` is a relative folder and a valid repo id), so
/// an existing folder always wins: a user who has a folder by that name means it, and the Hub is
/// only asked about names that are not on disk.
public enum ModelReference: Equatable, Sendable, CustomStringConvertible {
    case folder(String)
    case hub(repo: String, revision: String)

    /// The revision the Hub resolves when none is given, as `huggingface_hub` does.
    public static let defaultRevision = "main"

    /// Parses `ref`. `isDirectory` is asked first so that an existing folder is never mistaken for
    /// an id. A string that is neither an existing folder nor a well-formed id is returned as a
    /// folder, so the loader reports it as a missing folder, the error users expect for a typo'd path.
    public static func parse(_ ref: String, isDirectory: (String) -> Bool = ModelReference.directoryExists) -> ModelReference {
        if ref.isEmpty || isDirectory(ref) || looksLikePath(ref) { return .folder(ref) }
        guard let (repo, revision) = splitID(ref), isValidRepoID(repo), isValidRevision(revision) else {
            return .folder(ref)
        }
        return .hub(repo: repo, revision: revision)
    }

    public var description: String {
        switch self {
        case .folder(let path): return path
        case .hub(let repo, let revision): return revision == Self.defaultRevision ? repo : "\(repo)@\(revision)"
        }
    }

    public static func directoryExists(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        let expanded = (path as NSString).expandingTildeInPath
        return FileManager.default.fileExists(atPath: expanded, isDirectory: &isDir) && isDir.boolValue
    }

    /// Absolute, explicitly relative, home-relative and Windows-looking strings are paths, never ids.
    static func looksLikePath(_ s: String) -> Bool {
        s.hasPrefix("/") || s.hasPrefix("./") || s.hasPrefix("../") || s.hasPrefix("~") || s == "." || s == ".."
            || s.hasSuffix("/") || s.contains("\\")
    }

    /// `org/name` or `org/name@revision`; the revision may itself contain `/` (branch `refs/pr/1`).
    static func splitID(_ s: String) -> (String, String)? {
        let parts = s.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let repo = String(parts[0])
        let revision = parts.count == 2 ? String(parts[1]) : defaultRevision
        return revision.isEmpty ? nil : (repo, revision)
    }

    /// The Hub's rules for `namespace/name`: letters, digits, `-`, `_`, `.`; no `--` or `..`
    /// (they would collide with the cache folder's `--` separator); neither part starts or ends
    /// with `-` or `.`; at most 96 characters for the name.
    public static func isValidRepoID(_ repo: String) -> Bool {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            let allowed = part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
            return !part.isEmpty && part.count <= 96 && allowed
                && !part.contains("--") && !part.contains("..")
                && !part.hasPrefix("-") && !part.hasPrefix(".") && !part.hasSuffix("-") && !part.hasSuffix(".")
        }
    }

    /// A revision becomes a file name under `refs/` and a URL path segment: no `..`, no spaces,
    /// no leading `/`.
    static func isValidRevision(_ revision: String) -> Bool {
        !revision.isEmpty && !revision.contains("..") && !revision.hasPrefix("/") && !revision.hasSuffix("/")
            && revision.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "\\" && $0 != "?" && $0 != "#" }
    }

    /// A full commit id: 40 lowercase hex digits, as `X-Repo-Commit` carries and `snapshots/` names.
    public static func isCommitHash(_ s: String) -> Bool {
        s.count == 40 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
