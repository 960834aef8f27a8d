import Foundation
import Testing
@testable import ModelHub

@Suite("ModelReference")
struct ModelReferenceTests {
    @Test("org/name and org/name@revision are Hub ids; revision defaults to main")
    func ids() {
        let none: (String) -> Bool = { _ in false }
        #expect(ModelReference.parse("openai/clip-vit-base-patch16", isDirectory: none) == .hub(repo: "openai/clip-vit-base-patch16", revision: "main"))
        #expect(ModelReference.parse("openai/clip-vit-base-patch16@v1.0", isDirectory: none) == .hub(repo: "openai/clip-vit-base-patch16", revision: "v1.0"))
        #expect(ModelReference.parse("org/m@refs/pr/1", isDirectory: none) == .hub(repo: "org/m", revision: "refs/pr/1"))
        let commit = String(repeating: "a1", count: 20)
        #expect(ModelReference.parse("org/m@\(commit)", isDirectory: none) == .hub(repo: "org/m", revision: commit))
    }

    @Test("an existing folder wins over an id of the same spelling; paths and malformed ids stay folders")
    func folders() {
        #expect(ModelReference.parse("models/clip", isDirectory: { $0 == "models/clip" }) == .folder("models/clip"))
        let none: (String) -> Bool = { _ in false }
        for path in ["/abs/model", "./model", "../x/y", "~/m/n", "plainfolder", "a/b/c", "org/", "org/na--me",
                     "org/..", "-org/name", "org/name@", "org/name@../x", "org/na me"] {
            #expect(ModelReference.parse(path, isDirectory: none) == .folder(path), "\(path)")
        }
    }

    @Test("commit ids are exactly 40 lowercase hex digits")
    func commits() {
        #expect(ModelReference.isCommitHash(String(repeating: "0f", count: 20)))
        #expect(!ModelReference.isCommitHash(String(repeating: "0F", count: 20)))
        #expect(!ModelReference.isCommitHash("main"))
        #expect(!ModelReference.isCommitHash(String(repeating: "a", count: 39)))
    }
}

@Suite("HubSettings")
struct HubSettingsTests {
    @Test("defaults follow huggingface_hub: ~/.cache/huggingface/hub, huggingface.co, token file under HF_HOME")
    func defaults() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("hf-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".cache/huggingface"), withIntermediateDirectories: true)
        try "  hf_filetoken\n".write(to: home.appendingPathComponent(".cache/huggingface/token"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: home) }
        let settings = try HubSettings.fromEnvironment(["HOME": home.path])
        #expect(settings.cache.path == home.appendingPathComponent(".cache/huggingface/hub").path)
        #expect(settings.endpoint.absoluteString == "https://huggingface.co")
        #expect(settings.token == "hf_filetoken")
        #expect(!settings.offline)
    }

    @Test("HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE override, in huggingface_hub's precedence")
    func overrides() throws {
        let a = try HubSettings.fromEnvironment(["HOME": "/h", "HF_HOME": "/data/hf", "HF_TOKEN": "hf_env", "HF_HUB_OFFLINE": "1",
                                                 "HF_ENDPOINT": "http://mirror.local:8080/"])
        #expect(a.cache.path == "/data/hf/hub")
        #expect(a.token == "hf_env")
        #expect(a.offline)
        #expect(a.endpoint.absoluteString == "http://mirror.local:8080")
        let b = try HubSettings.fromEnvironment(["HOME": "/h", "HF_HOME": "/data/hf", "HF_HUB_CACHE": "/fast/cache", "HF_HUB_OFFLINE": "no"])
        #expect(b.cache.path == "/fast/cache")
        #expect(!b.offline)
        #expect(HubSettings.isTrue("TRUE") && HubSettings.isTrue("yes") && !HubSettings.isTrue("0") && !HubSettings.isTrue(nil))
    }

    @Test("a token file that is a FIFO or /dev/zero is not read (it would block or never end): no token")
    func nonRegularTokenFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-hub-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("token").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // Guarded: a regression that opens the FIFO is unblocked (opened for writing, closed) and fails.
        final class Box: @unchecked Sendable { var token: String?? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.token = try? HubSettings.fromEnvironment(["HOME": "/h", "HF_TOKEN_PATH": fifo]).token
            done.signal()
        }
        if done.wait(timeout: .now() + 60) == .timedOut {
            Issue.record("the FIFO token file blocked")
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            done.wait()
        }
        #expect(box.token == .some(nil))
        #expect(try HubSettings.fromEnvironment(["HOME": "/h", "HF_TOKEN_PATH": "/dev/zero"]).token == nil)
    }

    @Test("an HF_ENDPOINT that is not an http(s) URL is refused, not replaced by the public Hub")
    func badEndpoint() {
        #expect(throws: HubError.invalidEndpoint("ftp://x")) { try HubSettings.fromEnvironment(["HOME": "/h", "HF_ENDPOINT": "ftp://x"]) }
        #expect(throws: HubError.invalidEndpoint("not a url")) { try HubSettings.fromEnvironment(["HOME": "/h", "HF_ENDPOINT": "not a url"]) }
    }
}

@Suite("Digests and progress")
struct DigestTests {
    @Test("ETags normalise like the Hub's headers; 64 hex is sha256, 40 hex a git blob id")
    func etags() {
        #expect(ExpectedDigest.normalise(etag: "W/\"abc\"") == "abc")
        #expect(ExpectedDigest.normalise(etag: "\"abc\"") == "abc")
        #expect(ExpectedDigest(etag: String(repeating: "e", count: 64)) == .sha256(String(repeating: "e", count: 64)))
        #expect(ExpectedDigest(etag: String(repeating: "e", count: 40)) == .gitBlobSHA1(String(repeating: "e", count: 40)))
        #expect(ExpectedDigest(etag: "abc-123") == .unverifiable)
    }

    @Test("git blob id of a file matches git's (`printf 'hello\\n' | git hash-object --stdin`)")
    func gitBlob() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("blob-\(UUID().uuidString)")
        try Data("hello\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try DigestCheck.gitBlobID(of: url) == "ce013625030ba8dba906f756967f9e9ca394464a")
    }

    @Test("progress line shows done/total, percent and speed")
    func progressLine() {
        #expect(ProgressMeter.line(label: "o/n model.safetensors", done: 45_200_000, total: 598_600_000, bytesPerSecond: 112_300_000)
                == "o/n model.safetensors  45.2 MB / 598.6 MB (7%)  112.3 MB/s")
        #expect(ProgressMeter.line(label: "x", done: 1_000_000, total: nil, bytesPerSecond: 0) == "x  1.0 MB  0.0 MB/s")
    }

    @Test("Content-Range start parses; ranges the mock accepts")
    func ranges() {
        #expect(PartialFile.rangeStart("bytes 100-999/1000") == 100)
        #expect(PartialFile.rangeStart("bytes */1000") == nil)
        #expect(PartialFile.rangeStart(nil) == nil)
    }
}
