import Foundation
import HubMock
import Testing
@testable import ModelHub

@Suite("Downloads from a mock Hub")
struct DownloadTests {
    static let repo = "adaneg-test/tiny-clip"

    @Test("a cold fetch builds the huggingface_hub layout: blobs by ETag, relative snapshot links, refs/main")
    func coldFetch() async throws {
        let files = Checkpoint.files()
        let commit = MockRepo.commitID("c1")
        try await withHub([Self.repo: .single(files, commit: commit)]) { hub in
            let fx = HubFixture(hub: hub, token: "hf_secret")
            defer { fx.remove() }
            let model = try await fx.resolve(Self.repo)
            let layout = fx.layout(Self.repo)
            #expect(model.commit == commit)
            #expect(model.folder.path == layout.snapshot(commit).path)
            #expect(layout.folder.lastPathComponent == "models--adaneg-test--tiny-clip")
            #expect(try String(contentsOf: layout.refs.appendingPathComponent("main"), encoding: .utf8) == commit)
            for name in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
                let link = layout.snapshotFile(commit, name).path
                let etag = try #require(files[name]).etag
                #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "../../blobs/\(etag)", "\(name)")
                #expect(contents(layout.snapshotFile(commit, name)) == files[name]?.data, "\(name)")
            }
            #expect(!FileManager.default.fileExists(atPath: layout.snapshotFile(commit, "pytorch_model.bin").path))
            let requests = await hub.requests()
            #expect(!requests.contains { $0.path.hasSuffix("pytorch_model.bin") })
            // The token goes to the Hub, never to the CDN the weights are redirected to.
            #expect(requests.filter { $0.server == .hub }.allSatisfy { $0.authorization == "Bearer hf_secret" })
            let cdn = requests.filter { $0.server == .cdn }
            #expect(cdn.count == 1)
            #expect(cdn.allSatisfy { $0.authorization == nil })
        }
    }

    @Test("a GET redirected off the Hub is followed without the token")
    func redirectedGet() async throws {
        var repo = MockRepo.single(Checkpoint.files())
        repo.redirectGets = true
        try await withHub([Self.repo: repo]) { hub in
            let fx = HubFixture(hub: hub, token: "hf_secret")
            defer { fx.remove() }
            let model = try await fx.resolve(Self.repo)
            #expect(contents(model.folder.appendingPathComponent("vocab.json")) == Checkpoint.files()["vocab.json"]?.data)
            let requests = await hub.requests()
            let hubGets = requests.filter { $0.server == .hub && $0.method == "GET" }
            #expect(hubGets.count == 3)
            #expect(hubGets.allSatisfy { $0.authorization == "Bearer hf_secret" })
            let cdn = requests.filter { $0.server == .cdn }
            #expect(cdn.count == 4)
            #expect(cdn.allSatisfy { $0.authorization == nil })
        }
    }

    @Test("every file after the first is asked for at the commit the first answer named")
    func pinsCommit() async throws {
        try await withHub([Self.repo: .single(Checkpoint.files(), commit: MockRepo.commitID("c1"))]) { hub in
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            _ = try await fx.resolve(Self.repo)
            let heads = await hub.requests().filter { $0.server == .hub && $0.method == "HEAD" }.map(\.path)
            #expect(heads.first == "/\(Self.repo)/resolve/main/config.json")
            #expect(heads.dropFirst().allSatisfy { $0.contains("/resolve/\(MockRepo.commitID("c1"))/") })
            #expect(heads.count == 4)
        }
    }

    @Test("a cached commit is used with no request; a moved branch fetches only what changed")
    func cacheAndMovedBranch() async throws {
        let c1 = MockRepo.commitID("c1"), c2 = MockRepo.commitID("c2")
        var v2 = Checkpoint.files()
        v2["config.json"] = MockFile(Data("{\"model_type\": \"clip\", \"v\": 2}\n".utf8), lfs: false)
        try await withHub([Self.repo: .single(Checkpoint.files(), commit: c1)]) { hub in
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            _ = try await fx.resolve(Self.repo)
            let before = await hub.requests().count
            let pinned = try await fx.resolve(Self.repo, c1)
            #expect(pinned.commit == c1)
            #expect(await hub.requests().count == before)

            await hub.setRepo(Self.repo, MockRepo(commits: [c1: Checkpoint.files(), c2: v2], refs: ["main": c2, "v1": c1]))
            let moved = try await fx.resolve(Self.repo)
            #expect(moved.commit == c2)
            #expect(contents(moved.folder.appendingPathComponent("config.json")) == v2["config.json"]?.data)
            // The weights did not change: the blob is shared, not downloaded again.
            #expect(await hub.requests().filter { $0.server == .cdn }.count == 1)
            let tag = try await fx.resolve(Self.repo, "v1")
            #expect(tag.commit == c1)
            #expect(FileManager.default.fileExists(atPath: fx.layout(Self.repo).snapshotFile(c1, "config.json").path))
        }
    }

    @Test("429 and 5xx are retried (Retry-After honoured), a cut connection resumes with Range")
    func retriesAndResume() async throws {
        let files = Checkpoint.files(weights: 5_000_000)
        try await withHub([Self.repo: .single(files)]) { hub in
            await hub.inject(.status(429, retryAfter: 0), on: .hub, file: "config.json")
            await hub.inject(.status(503), on: .cdn, file: "model.safetensors")
            await hub.inject(.cutAfter(1_500_000), on: .cdn, file: "model.safetensors")
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            let model = try await fx.resolve(Self.repo)
            #expect(contents(model.folder.appendingPathComponent("model.safetensors")) == files["model.safetensors"]?.data)
            let cdn = await hub.requests().filter { $0.server == .cdn }
            #expect(cdn.count == 3)
            #expect(cdn.map(\.range) == [nil, nil, "bytes=1500000-"])
            let layout = fx.layout(Self.repo)
            #expect(!FileManager.default.fileExists(atPath: layout.incomplete(files["model.safetensors"]!.etag).path))
        }
    }

    @Test("a download that does not match its sha256 is discarded and never linked; the next try succeeds")
    func checksumMismatch() async throws {
        let files = Checkpoint.files()
        let weights = try #require(files["model.safetensors"])
        try await withHub([Self.repo: .single(files)]) { hub in
            await hub.inject(.corrupt, on: .cdn, file: "model.safetensors")
            var fx = HubFixture(hub: hub)
            defer { fx.remove() }
            await #expect {
                try await fx.resolve(Self.repo)
            } throws: { error in
                guard case HubError.checksumMismatch(let repo, let file, let expected, _) = error else { return false }
                return repo == Self.repo && file == "model.safetensors" && expected == weights.sha256
            }
            let layout = fx.layout(Self.repo)
            let commit = MockRepo.commitID("main")
            #expect(!FileManager.default.fileExists(atPath: layout.blob(weights.etag).path))
            #expect(!FileManager.default.fileExists(atPath: layout.incomplete(weights.etag).path))
            #expect(!layout.hasSnapshotFile(commit, "model.safetensors"))
            // The half-fetched snapshot (config only) is not a model, offline either.
            fx.settings.offline = true
            await #expect(throws: HubError.offlineNotCached(repo: Self.repo, revision: "main", cache: fx.cache.path)) {
                try await fx.resolve(Self.repo)
            }
            fx.settings.offline = false
            let model = try await fx.resolve(Self.repo)
            #expect(contents(model.folder.appendingPathComponent("model.safetensors")) == weights.data)
        }
    }

    @Test("a partial file left by an earlier run is resumed from its length")
    func resumesLeftover() async throws {
        let files = Checkpoint.files()
        let weights = try #require(files["model.safetensors"])
        try await withHub([Self.repo: .single(files)]) { hub in
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            let layout = fx.layout(Self.repo)
            try FileManager.default.createDirectory(at: layout.blobs, withIntermediateDirectories: true)
            try weights.data.prefix(1_000_000).write(to: layout.incomplete(weights.etag))
            let model = try await fx.resolve(Self.repo)
            #expect(contents(model.folder.appendingPathComponent("model.safetensors")) == weights.data)
            #expect(await hub.requests().filter { $0.server == .cdn }.map(\.range) == ["bytes=1000000-"])
        }
    }

    @Test("a sharded checkpoint fetches the index and each shard it names")
    func sharded() async throws {
        var files = Checkpoint.files()
        files["model.safetensors"] = nil
        files["model-00001-of-00002.safetensors"] = MockFile(Checkpoint.bytes(400_000, seed: 5), lfs: true)
        files["model-00002-of-00002.safetensors"] = MockFile(Checkpoint.bytes(300_000, seed: 6), lfs: true)
        let index = #"{"metadata": {"total_size": 700000}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}"#
        files["model.safetensors.index.json"] = MockFile(Data(index.utf8), lfs: false)
        try await withHub([Self.repo: .single(files)]) { hub in
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            let model = try await fx.resolve(Self.repo)
            #expect(model.shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
            for shard in model.shards {
                #expect(contents(model.folder.appendingPathComponent(shard)) == files[shard]?.data)
            }
        }
    }
}
