import Foundation
import HubMock
import Testing
@testable import ModelHub

@Suite("A planned model folder on a worker's machine")
struct PlannedModelFolderTests {
    static let repo = "adaneg-test/tiny-clip"

    @Test("a snapshot folder names its repo and commit; other folders name nothing")
    func snapshotOrigin() {
        let commit = MockRepo.commitID("c1")
        let origin = PlannedModelFolder.snapshotOrigin("/home/a/.cache/huggingface/hub/models--org--clip-b16/snapshots/\(commit)")
        #expect(origin?.repo == "org/clip-b16")
        #expect(origin?.commit == commit)
        #expect(PlannedModelFolder.snapshotOrigin("/x/models--org--clip/snapshots/\(commit)/")?.repo == "org/clip")
        for path in ["/models/clip-b16", "/x/models--org--clip/snapshots/main", "/x/models--org--clip/blobs/\(commit)",
                     "/x/models--org--a--b/snapshots/\(commit)", "/x/models--clip/snapshots/\(commit)",
                     "/x/datasets--org--clip/snapshots/\(commit)", "/x/models--org--clip/snapshots/\(commit.uppercased())", "snapshots"] {
            #expect(PlannedModelFolder.snapshotOrigin(path) == nil, "\(path)")
        }
    }

    @Test("a folder that exists here is used as it is, with no request")
    func existingFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("planned-\(UUID().uuidString)/models--org--clip/snapshots/\(MockRepo.commitID("c1"))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()) }
        // An endpoint nothing listens on: any request would fail the call.
        let settings = HubSettings(cache: folder, endpoint: URL(string: "http://127.0.0.1:9")!, offline: false)
        let here = try PlannedModelFolder.local(for: folder.path, settings: settings)
        let plain = try PlannedModelFolder.local(for: "/nonexistent/plain-folder", settings: settings)
        #expect(here == folder.path)
        #expect(plain == "/nonexistent/plain-folder")
    }

    @Test("another machine's snapshot folder is fetched at the same commit into this cache, not at main")
    func sameCommitHere() async throws {
        let pinned = MockRepo.commitID("c1")
        try await withHub([Self.repo: .single(Checkpoint.files(), commit: pinned)]) { hub in
            let fx = HubFixture(hub: hub)
            defer { fx.remove() }
            let submitter = "/elsewhere/hub/models--adaneg-test--tiny-clip/snapshots/\(pinned)"
            let settings = fx.settings
            let folder: Result<String, HubError> = await withCheckedContinuation { continuation in
                // The fetch blocks; keep it off the cooperative threads the mock needs.
                Thread {
                    do throws(HubError) {
                        continuation.resume(returning: .success(try PlannedModelFolder.local(for: submitter, settings: settings)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }.start()
            }
            let layout = fx.layout(Self.repo)
            let local = try folder.get()
            #expect(local == layout.snapshot(pinned).path)
            #expect(FileManager.default.fileExists(atPath: layout.snapshotFile(pinned, "model.safetensors").path))
            let hubPaths = await hub.requests().filter { $0.server == .hub }.map(\.path)
            #expect(!hubPaths.isEmpty)
            #expect(hubPaths.allSatisfy { $0.contains("/resolve/\(pinned)/") }, "\(hubPaths)")
        }
    }
}
