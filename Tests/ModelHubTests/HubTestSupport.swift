import Foundation
import HubMock
@testable import ModelHub

/// Files shaped like a CLIP checkpoint; contents are deterministic bytes, the downloader does
/// not parse them (only the index of a sharded checkpoint).
enum Checkpoint {
    static func bytes(_ count: Int, seed: UInt64) -> Data {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
        }
        return Data(bytes)
    }

    static func files(weights: Int = 3_000_000, seed: UInt64 = 1) -> [String: MockFile] {
        [
            "config.json": MockFile(Data("{\"model_type\": \"clip\", \"seed\": \(seed)}\n".utf8), lfs: false),
            "model.safetensors": MockFile(bytes(weights, seed: seed), lfs: true),
            "vocab.json": MockFile(Data("{\"a</w>\": 0}\n".utf8), lfs: false),
            "merges.txt": MockFile(Data("#version: 0.2\na b\n".utf8), lfs: false),
            // Present on real CLIP repos and never fetched: the test checks nobody asks for it.
            "pytorch_model.bin": MockFile(bytes(1000, seed: 99), lfs: true),
        ]
    }
}

/// A fresh cache folder and settings pointing at the mock, with instant retries.
struct HubFixture {
    let cache: URL
    var settings: HubSettings

    init(hub: MockHub?, token: String? = nil, offline: Bool = false) {
        cache = FileManager.default.temporaryDirectory.appendingPathComponent("hub-cache-\(UUID().uuidString)", isDirectory: true)
        let endpoint = hub?.hubURL ?? URL(string: "http://127.0.0.1:9")!
        settings = HubSettings(cache: cache, endpoint: endpoint, token: token, offline: offline)
        settings.backoff = { _ in 0 }
        settings.attempts = 3
    }

    func layout(_ repo: String) -> HubCacheLayout { HubCacheLayout(cache: cache, repo: repo) }

    func remove() { try? FileManager.default.removeItem(at: cache) }

    /// The blocking fetch on its own thread, so it never holds a cooperative thread the mock's
    /// handlers need (two cores).
    func resolve(_ repo: String, _ revision: String = "main", settings override: HubSettings? = nil) async throws(HubError) -> ResolvedModel {
        let settings = override ?? self.settings
        let result: Result<ResolvedModel, HubError> = await withCheckedContinuation { continuation in
            Thread {
                do throws(HubError) {
                    continuation.resume(returning: .success(try ModelFetcher(settings: settings).resolve(repo: repo, revision: revision)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }.start()
        }
        return try result.get()
    }
}

func withHub<T>(_ repos: [String: MockRepo], _ body: (MockHub) async throws -> T) async throws -> T {
    let hub = try await MockHub.start(repos: repos)
    do {
        let value = try await body(hub)
        await hub.stop()
        return value
    } catch {
        await hub.stop()
        throw error
    }
}

func contents(_ url: URL) -> Data? { try? Data(contentsOf: url) }
