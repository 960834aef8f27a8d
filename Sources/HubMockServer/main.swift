import Foundation
import HubMock

/// `adaneg-hub-mock REPO FOLDER [--port P]`: serves every file of FOLDER as repo REPO at `main`
/// (`*.safetensors` as LFS through the CDN port), prints `HUB=<url> CDN=<url>` and runs until
/// killed. For `bench/hub.sh` and for trying `HF_ENDPOINT` by hand; tests start the mock in-process.
func serve() async throws {
    var args = Array(CommandLine.arguments.dropFirst())
    var port = 0
    if let i = args.firstIndex(of: "--port"), i + 1 < args.count, let p = Int(args[i + 1]) {
        port = p
        args.removeSubrange(i...(i + 1))
    }
    guard args.count == 2 else {
        FileHandle.standardError.write(Data("usage: adaneg-hub-mock ORG/NAME FOLDER [--port P]\n".utf8))
        exit(2)
    }
    let folder = URL(fileURLWithPath: args[1])
    var files: [String: MockFile] = [:]
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    for name in names.sorted() where !name.hasPrefix(".") {
        let data = try Data(contentsOf: folder.appendingPathComponent(name), options: .alwaysMapped)
        files[name] = MockFile(data, lfs: name.hasSuffix(".safetensors") || data.count > 10_000_000)
    }
    let hub = try await MockHub.start(repos: [args[0]: .single(files)], hubPort: port)
    FileHandle.standardOutput.write(Data("HUB=\(hub.hubURL.absoluteString) CDN=\(hub.cdnURL.absoluteString)\n".utf8))
    while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
}

try await serve()
