import CLIP
import Foundation
import NPY

/// Access to the committed fixtures (built by tools/clip/make_fixtures.py).
enum Fixtures {
    static let root: URL = {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("CLIPTests fixtures are missing from the test bundle")
        }
        return url
    }()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func data(_ relative: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(relative)) }

    static func json(_ relative: String) throws -> Any { try JSONSerialization.jsonObject(with: data(relative)) }

    /// A scratch directory unique to this test process, under one parent; directories left by
    /// earlier test processes that are no longer running are removed.
    static let scratch: URL = {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-clip-tests")
        let me = ProcessInfo.processInfo.processIdentifier
        if let old = try? FileManager.default.contentsOfDirectory(atPath: parent.path) {
            for name in old where Int32(name) != me {
                if let pid = Int32(name), kill(pid, 0) == 0 { continue } // still running
                try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
            }
        }
        let url = parent.appendingPathComponent("\(me)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static func scratchFile(_ name: String, _ bytes: Data) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try bytes.write(to: url)
        return url.path
    }

    /// The real vocabulary files, decompressed once.
    static let tokenizerDirectory: URL = {
        let dir = scratch.appendingPathComponent("tokenizer")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["vocab.json", "merges.txt"] {
            if let gz = try? data("tokenizer/\(name).gz"), let plain = try? Gzip.decompress(gz) {
                try? plain.write(to: dir.appendingPathComponent(name))
            }
        }
        return dir
    }()

    static let tokenizer: CLIPTokenizer? = try? CLIPTokenizer(
        vocabPath: tokenizerDirectory.appendingPathComponent("vocab.json").path,
        mergesPath: tokenizerDirectory.appendingPathComponent("merges.txt").path)

    /// A Hugging Face model directory assembled from the fixtures: config.json, the decompressed
    /// model.safetensors, vocab.json and merges.txt.
    static func modelDirectory(_ name: String) throws -> String {
        let dir = scratch.appendingPathComponent("models/\(name)")
        let weights = dir.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: weights.path) { return dir.path }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try data("models/\(name)/config.json").write(to: dir.appendingPathComponent("config.json"))
        for file in ["vocab.json", "merges.txt"] {
            try Data(contentsOf: tokenizerDirectory.appendingPathComponent(file)).write(to: dir.appendingPathComponent(file))
        }
        let tmp = dir.appendingPathComponent("model.safetensors.partial-\(UUID().uuidString)")
        try Gzip.decompress(data("models/\(name)/model.safetensors.gz")).write(to: tmp)
        _ = try? FileManager.default.replaceItemAt(weights, withItemAt: tmp)
        if !FileManager.default.fileExists(atPath: weights.path) { try FileManager.default.moveItem(at: tmp, to: weights) }
        return dir.path
    }

    static let modelNames = ["tiny-p32-quickgelu-fp32", "tiny-p16-gelu-fp16", "tiny-p32-gelu-bf16"]
}

/// Cosine similarity of two equally long vectors.
func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in 0..<min(a.count, b.count) {
        dot += Double(a[i]) * Double(b[i])
        na += Double(a[i]) * Double(a[i])
        nb += Double(b[i]) * Double(b[i])
    }
    return dot / max((na * nb).squareRoot(), 1e-30)
}

/// A minimal safetensors writer for building bad checkpoints in tests.
enum SafetensorsWriter {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: Data
    }

    static func encode(_ entries: [Entry]) -> Data {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var offset = 0
        var body = Data()
        for e in entries {
            header[e.name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            body.append(e.bytes)
            offset += e.bytes.count
        }
        let json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    static func floats(_ values: [Float]) -> Data { values.withUnsafeBufferPointer { Data(buffer: $0) } }
}
