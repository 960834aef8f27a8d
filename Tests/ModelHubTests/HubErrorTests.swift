import Foundation
import HubMock
import Testing
@testable import ModelHub

@Suite("Bad input against a mock Hub")
struct HubErrorTests {
    static let repo = "adaneg-test/tiny-clip"

    @Test("unknown repo, unknown revision, missing file, no safetensors: one typed error each, not retried")
    func notFound() async throws {
        var binOnly = Checkpoint.files()
        binOnly["model.safetensors"] = nil
        var noVocab = Checkpoint.files()
        noVocab["vocab.json"] = nil
        try await withHub([Self.repo: .single(Checkpoint.files()), "adaneg-test/bin-only": .single(binOnly),
                           "adaneg-test/no-vocab": .single(noVocab)]) { hub in
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            let endpoint = hub.hubURL.absoluteString
            await #expect(throws: HubError.repoNotFound(repo: "adaneg-test/nope", endpoint: endpoint, hadToken: false)) {
                try await fx.resolve("adaneg-test/nope")
            }
            await #expect(throws: HubError.revisionNotFound(repo: Self.repo, revision: "v9")) { try await fx.resolve(Self.repo, "v9") }
            await #expect(throws: HubError.noSafetensors(repo: "adaneg-test/bin-only", revision: "main")) {
                try await fx.resolve("adaneg-test/bin-only")
            }
            await #expect(throws: HubError.fileNotFound(repo: "adaneg-test/no-vocab", revision: MockRepo.commitID("main"), file: "vocab.json")) {
                try await fx.resolve("adaneg-test/no-vocab")
            }
            let heads = await hub.requests().filter { $0.path.hasPrefix("/adaneg-test/nope/") }
            #expect(heads.count == 1)
        }
    }

    @Test("a gated repo: without a token, with a token lacking access, and with access")
    func gated() async throws {
        var repo = MockRepo.single(Checkpoint.files())
        repo.gated = true
        repo.accessToken = "hf_good"
        try await withHub([Self.repo: repo]) { hub in
            let endpoint = hub.hubURL.absoluteString
            let anonymous = HubFixture(hub: hub)
            defer { anonymous.remove() }
            await #expect(throws: HubError.gated(repo: Self.repo, endpoint: endpoint, hadToken: false)) { try await anonymous.resolve(Self.repo) }
            let wrong = HubFixture(hub: hub, token: "hf_bad")
            defer { wrong.remove() }
            await #expect(throws: HubError.gated(repo: Self.repo, endpoint: endpoint, hadToken: true)) { try await wrong.resolve(Self.repo) }
            let good = HubFixture(hub: hub, token: "hf_good")
            defer { good.remove() }
            let granted = try await good.resolve(Self.repo)
            #expect(granted.commit == MockRepo.commitID("main"))
        }
    }

    @Test("5xx that does not stop ends as an HTTP error after the configured attempts")
    func persistentFailure() async throws {
        try await withHub([Self.repo: .single(Checkpoint.files())]) { hub in
            for _ in 0..<3 { await hub.inject(.status(502), on: .hub, file: "config.json") }
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            await #expect {
                try await fx.resolve(Self.repo)
            } throws: { error in
                guard case HubError.httpStatus(_, "config.json", 502, _) = error else { return false }
                return true
            }
            #expect(await hub.requests().count == 3)
        }
    }

    @Test("offline: a complete cache answers without a server; an uncached model says how to get it")
    func offline() async throws {
        let fx = try await withHub([Self.repo: .single(Checkpoint.files())]) { hub in
            let fx = HubFixture(hub: hub)
            _ = try await fx.resolve(Self.repo)
            return fx
        }
        defer { fx.remove() }
        var offline = fx.settings
        offline.offline = true
        #expect(try await fx.resolve(Self.repo, settings: offline).commit == MockRepo.commitID("main"))
        await #expect(throws: HubError.offlineNotCached(repo: "adaneg-test/other", revision: "main", cache: fx.cache.path)) {
            try await fx.resolve("adaneg-test/other", settings: offline)
        }
        // Online but the Hub is gone: the branch's last known commit is used.
        #expect(try await fx.resolve(Self.repo).commit == MockRepo.commitID("main"))
    }

    @Test("every error message is one line naming the model")
    func messages() {
        let errors: [HubError] = [
            .repoNotFound(repo: "o/n", endpoint: "https://huggingface.co", hadToken: false),
            .revisionNotFound(repo: "o/n", revision: "v2"), .gated(repo: "o/n", endpoint: "https://huggingface.co", hadToken: false),
            .noSafetensors(repo: "o/n", revision: "main"), .offlineNotCached(repo: "o/n", revision: "main", cache: "/c"),
            .checksumMismatch(repo: "o/n", file: "model.safetensors", expected: "a", actual: "b"),
        ]
        for error in errors {
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains("o/n"))
        }
    }
}
