import Crypto
import Foundation

/// A file in a mock repo. LFS files (the weights) are served as the Hub serves them: the resolve
/// URL answers with a redirect to a CDN host and names the file by its sha256; git files
/// (config, vocab) are served from the resolve URL itself and named by their git blob id.
/// Digests are computed once here: a benchmark serves a file of hundreds of MB, and hashing it
/// per request would make the mock, not the client, the thing measured.
public struct MockFile: Sendable {
    public let data: Data
    public let lfs: Bool
    public let sha256: String
    /// sha1("blob <size>\0" + content), what git and the Hub's `ETag` use for non-LFS files.
    public let gitBlobID: String

    public init(_ data: Data, lfs: Bool) {
        self.data = data
        self.lfs = lfs
        sha256 = hex(SHA256.hash(data: data))
        var hasher = Insecure.SHA1()
        hasher.update(data: Data("blob \(data.count)\0".utf8))
        hasher.update(data: data)
        gitBlobID = hex(hasher.finalize())
    }

    /// The ETag the Hub sends for this file: sha256 for LFS, the git blob id otherwise.
    public var etag: String { lfs ? sha256 : gitBlobID }
}

/// A repo on the mock Hub: commits with their files, branches and tags pointing at commits.
public struct MockRepo: Sendable {
    public var commits: [String: [String: MockFile]]
    /// Branch and tag names to commit ids.
    public var refs: [String: String]
    /// A gated repo answers 401 `GatedRepo` without a token and 403 with a token that is not `accessToken`.
    public var gated: Bool
    public var accessToken: String?
    /// A GET (not a HEAD) of a git file is redirected to the CDN too, as some mirrors do; it tests
    /// that the client follows redirects itself and drops the token when leaving the Hub.
    public var redirectGets = false

    public init(commits: [String: [String: MockFile]], refs: [String: String], gated: Bool = false, accessToken: String? = nil) {
        self.commits = commits
        self.refs = refs
        self.gated = gated
        self.accessToken = accessToken
    }

    /// A one-commit repo with `main` pointing at it.
    public static func single(_ files: [String: MockFile], commit: String = MockRepo.commitID("main")) -> MockRepo {
        MockRepo(commits: [commit: files], refs: ["main": commit])
    }

    /// A deterministic 40-hex commit id from a label, so tests can name commits.
    public static func commitID(_ label: String) -> String {
        String(hex(Insecure.SHA1.hash(data: Data(label.utf8))).prefix(40))
    }

    func commit(for revision: String) -> String? {
        if commits[revision] != nil { return revision }
        return refs[revision]
    }
}

func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    bytes.map { String(format: "%02x", $0) }.joined()
}
