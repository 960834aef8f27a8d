import Foundation
import Testing
@testable import ModelHub

/// The committed cache under Fixtures/hf-cache was written by huggingface_hub's
/// `snapshot_download` (tools/hub/cache_compat.py fixture); adaneg must find it offline.
@Suite("A cache written by huggingface_hub")
struct FixtureCacheTests {
    struct Manifest: Decodable {
        var repo: String
        var commit: String
        var files: [String]
    }

    /// A private copy, links preserved, so tests never write into the bundle.
    static func copyOfFixture() throws -> (URL, Manifest) {
        guard let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw CocoaError(.fileNoSuchFile)
        }
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: fixtures.appendingPathComponent("hf-cache.json")))
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("hf-fixture-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("hf-cache"), to: copy)
        return (copy, manifest)
    }

    @Test("found offline by branch and by commit, every file readable through its link")
    func offline() throws {
        let (cache, manifest) = try Self.copyOfFixture()
        defer { try? FileManager.default.removeItem(at: cache) }
        var settings = HubSettings(cache: cache, endpoint: URL(fileURLWithPath: "/"), offline: true)
        settings.progress = nil
        let fetcher = ModelFetcher(settings: settings)
        let byBranch = try fetcher.resolve(repo: manifest.repo, revision: "main")
        #expect(byBranch.commit == manifest.commit)
        #expect(byBranch.folder.lastPathComponent == manifest.commit)
        let byCommit = try fetcher.resolve(repo: manifest.repo, revision: manifest.commit)
        #expect(byCommit.folder == byBranch.folder)
        for file in manifest.files {
            let url = byBranch.folder.appendingPathComponent(file)
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: url.path)
            #expect(target.hasPrefix("../../blobs/"), "\(file) -> \(target)")
            #expect(FileManager.default.contents(atPath: url.path) != nil, "\(file)")
        }
    }

    @Test("the blob huggingface_hub named by sha256 has that sha256, as adaneg would verify")
    func blobNames() throws {
        let (cache, manifest) = try Self.copyOfFixture()
        defer { try? FileManager.default.removeItem(at: cache) }
        let layout = HubCacheLayout(cache: cache, repo: manifest.repo)
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: layout.snapshotFile(manifest.commit, "model.safetensors").path)
        let etag = URL(fileURLWithPath: link).lastPathComponent
        #expect(try DigestCheck.mismatch(ExpectedDigest(etag: etag), file: layout.blob(etag)) == nil)
        let config = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: layout.snapshotFile(manifest.commit, "config.json").path)).lastPathComponent
        #expect(try DigestCheck.gitBlobID(of: layout.blob(config)) == config)
    }
}
