import Foundation
import ModelHub
import Testing
@testable import AdaNegCLI

/// A job's `model:` given as a Hub id is pinned to its snapshot folder before validation, on the
/// same line, so the loader's line numbers still match the user's file.
@Suite("Hub ids in job specs")
struct ModelArgumentTests {
    /// The cache huggingface_hub wrote (ModelHubTests' fixture), copied so links stay relative.
    static func offlineSettings() throws -> (HubSettings, URL) {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelHubTests/Fixtures/hf-cache")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("cli-hf-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixture, to: copy)
        var settings = HubSettings(cache: copy, endpoint: URL(fileURLWithPath: "/"), offline: true)
        settings.progress = { _ in }
        return (settings, copy)
    }

    @Test("an id is replaced by the snapshot folder on its own line; other lines are untouched")
    func pins() throws {
        let (settings, cache) = try Self.offlineSettings()
        defer { try? FileManager.default.removeItem(at: cache) }
        let spec = "name: x   # a job\nmodel: \"adaneg-test/tiny-clip\"   # by id\nseed: 3\n"
        let pinned = try #require(try ModelArgument.pinningModel(inSpec: spec, baseDirectory: "/nonexistent", settings: settings))
        let lines = pinned.components(separatedBy: "\n")
        let snapshot = cache.appendingPathComponent("models--adaneg-test--tiny-clip/snapshots/b28b7af69320201d1cf206ebf28373980add1451").path
        #expect(lines[1] == "model: \"\(snapshot)\"   # by id")
        #expect(lines[0] == "name: x   # a job" && lines[2] == "seed: 3")
    }

    @Test("a folder, a missing model key and a folder-looking path are left alone")
    func leavesFolders() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-models-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("org/name"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try ModelArgument.pinningModel(inSpec: "model: org/name\n", baseDirectory: dir.path) == nil)
        #expect(try ModelArgument.pinningModel(inSpec: "name: x\n", baseDirectory: dir.path) == nil)
        #expect(try ModelArgument.pinningModel(inSpec: "model: ../models/clip\n", baseDirectory: dir.path) == nil)
    }

    @Test("an id not in the cache offline fails with the Hub's one-line message")
    func offlineMiss() throws {
        let (settings, cache) = try Self.offlineSettings()
        defer { try? FileManager.default.removeItem(at: cache) }
        #expect {
            try ModelArgument.pinningModel(inSpec: "model: adaneg-test/absent\n", baseDirectory: "/nonexistent", settings: settings)
        } throws: { error in
            "\(error)".hasPrefix("model adaneg-test/absent@main is not complete in the cache") && !"\(error)".contains("\n")
        }
    }
}
