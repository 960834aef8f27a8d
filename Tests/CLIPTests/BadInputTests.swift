import CLIP
import Foundation
import Testing

/// Bad checkpoints, configs and images: one typed error each, with a message naming the
/// file, tensor, shape or dtype at fault.
@Suite("Bad input")
struct BadInputTests {
    // MARK: Helpers

    /// A copy of a fixture model directory with its checkpoint replaced by `entries` (or bytes).
    static func modelCopy(_ label: String, weights: Data? = nil, config: Data? = nil) throws -> String {
        let source = URL(fileURLWithPath: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32"))
        let dir = Fixtures.scratch.appendingPathComponent("bad/\(label)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        if let weights { try weights.write(to: dir.appendingPathComponent("model.safetensors")) }
        if let config { try config.write(to: dir.appendingPathComponent("config.json")) }
        return dir.path
    }

    static func loadError(_ dir: String) -> (any Error)? {
        do { _ = try CLIPModel(directory: dir); return nil } catch { return error }
    }

    /// The fixture checkpoint's tensors, re-encoded with `edit` applied.
    static func editedCheckpoint(_ edit: (inout [SafetensorsWriter.Entry]) -> Void) throws -> Data {
        let path = URL(fileURLWithPath: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")).appendingPathComponent("model.safetensors").path
        let file = try SafetensorsFile(path: path)
        var entries: [SafetensorsWriter.Entry] = []
        for (name, info) in file.tensors.sorted(by: { $0.key < $1.key }) {
            entries.append(.init(name: name, dtype: "F32", shape: info.shape, bytes: SafetensorsWriter.floats(file.floats(name) ?? [])))
        }
        edit(&entries)
        return SafetensorsWriter.encode(entries)
    }

    // MARK: Checkpoints

    @Test("missing tensor: names the tensor and the file")
    func missingTensor() throws {
        let name = "vision_model.encoder.layers.1.mlp.fc2.weight"
        let data = try Self.editedCheckpoint { $0.removeAll { $0.name == name } }
        let error = Self.loadError(try Self.modelCopy("missing", weights: data))
        let e = try #require(error as? CheckpointError)
        guard case .missingTensor(let tensor, let file) = e else { Issue.record("unexpected \(e)"); return }
        #expect(tensor == name)
        #expect(file.hasSuffix("model.safetensors"))
        #expect("\(e)".contains(name))
    }

    @Test("wrong shape: names expected and found shapes")
    func wrongShape() throws {
        let name = "text_model.final_layer_norm.weight"
        let data = try Self.editedCheckpoint { entries in
            if let i = entries.firstIndex(where: { $0.name == name }) {
                entries[i].shape = [24, 2]
            }
        }
        let e = try #require(Self.loadError(try Self.modelCopy("shape", weights: data)) as? CheckpointError)
        #expect(e == .wrongShape(name: name, file: e.fileForTest, expected: [48], found: [24, 2]))
        #expect("\(e)".contains("[24, 2]") && "\(e)".contains("[48]"))
    }

    @Test("unsupported dtype: names the dtype")
    func wrongDType() throws {
        let name = "visual_projection.weight"
        let data = try Self.editedCheckpoint { entries in
            if let i = entries.firstIndex(where: { $0.name == name }) { entries[i].dtype = "I32" }
        }
        let e = try #require(Self.loadError(try Self.modelCopy("dtype", weights: data)) as? CheckpointError)
        guard case .unsupportedDType(let tensor, _, let dtype) = e else { Issue.record("unexpected \(e)"); return }
        #expect(tensor == name && dtype == "I32")
    }

    @Test("truncated safetensors file: typed error, no crash", arguments: [0, 5, 100, 4000, -1000])
    func truncated(keep: Int) throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")).appendingPathComponent("model.safetensors"))
        let bytes = keep >= 0 ? full.prefix(keep) : full.prefix(full.count + keep)
        let error = Self.loadError(try Self.modelCopy("trunc\(keep)", weights: Data(bytes)))
        let e = try #require(error as? SafetensorsError)
        #expect("\(e)".contains("model.safetensors"))
        if keep < 0 {
            guard case .truncated = e else { Issue.record("expected .truncated, got \(e)"); return }
        }
    }

    @Test("a header declaring a shape whose size overflows is refused, for known and unknown dtypes", arguments: ["F32", "U8", "Q4"])
    func overflowingShape(dtype: String) throws {
        let huge = 1 << 40
        let data = SafetensorsWriter.encode([.init(name: "w", dtype: dtype, shape: [huge, huge, huge], bytes: Data(count: 16))])
        do {
            let file = try SafetensorsFile(data: data, path: "hostile.safetensors")
            // Only an unknown dtype gets past the header check; it is never converted.
            #expect(dtype == "Q4")
            #expect(file.floats("w") == nil)
        } catch {
            #expect("\(error)".contains("larger than any file can hold") || "\(error)".contains("needs"), "\(error)")
        }
    }

    @Test("fp16 and bf16 widen exactly")
    func halfConversion() throws {
        #expect(SafetensorsFile.halfToFloat(0x3C00) == 1)
        #expect(SafetensorsFile.halfToFloat(0xC000) == -2)
        #expect(SafetensorsFile.halfToFloat(0x7BFF) == 65504)
        #expect(SafetensorsFile.halfToFloat(0x0001) == 5.9604644775390625e-8)
        #expect(SafetensorsFile.halfToFloat(0x7C00) == .infinity)
        #expect(SafetensorsFile.halfToFloat(0x7E00).isNaN)
        let data = SafetensorsWriter.encode([
            .init(name: "h", dtype: "F16", shape: [2], bytes: Data([0x00, 0x3C, 0x00, 0xC0])),
            .init(name: "b", dtype: "BF16", shape: [2], bytes: Data([0x80, 0x3F, 0x40, 0xC0])),
        ])
        let file = try SafetensorsFile(data: data, path: "mem")
        #expect(file.floats("h") == [1, -2])
        #expect(file.floats("b") == [1, -3])
    }

    // MARK: Configs

    static func configWith(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var json = try #require(try JSONSerialization.jsonObject(with: Fixtures.data("models/tiny-p32-quickgelu-fp32/config.json")) as? [String: Any])
        edit(&json)
        return try JSONSerialization.data(withJSONObject: json)
    }

    @Test("unknown hidden_act")
    func unknownActivation() throws {
        let data = try Self.configWith { json in
            var text = json["text_config"] as? [String: Any] ?? [:]
            text["hidden_act"] = "swish_plus"
            json["text_config"] = text
        }
        let e = try #require(Self.loadError(try Self.modelCopy("act", config: data)) as? CLIPConfigError)
        guard case .unknownActivation(_, let field, let name) = e else { Issue.record("unexpected \(e)"); return }
        #expect(field == "text_config.hidden_act" && name == "swish_plus")
    }

    @Test("a config that is not CLIP")
    func notCLIP() throws {
        let bert = Data(#"{"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12}"#.utf8)
        let e = try #require(Self.loadError(try Self.modelCopy("bert", config: bert)) as? CLIPConfigError)
        guard case .notCLIP(_, let type) = e else { Issue.record("unexpected \(e)"); return }
        #expect(type == "bert")
        let noTowers = Data(#"{"projection_dim": 512}"#.utf8)
        #expect(Self.loadError(try Self.modelCopy("notowers", config: noTowers)) is CLIPConfigError)
        #expect(Self.loadError(try Self.modelCopy("notjson", config: Data("not json".utf8))) is CLIPConfigError)
    }

    @Test("inconsistent numbers in config.json are caught")
    func invalidConfig() throws {
        let data = try Self.configWith { json in
            var vision = json["vision_config"] as? [String: Any] ?? [:]
            vision["num_attention_heads"] = 5
            json["vision_config"] = vision
        }
        let e = try #require(Self.loadError(try Self.modelCopy("heads", config: data)) as? CLIPConfigError)
        #expect("\(e)".contains("num_attention_heads"))
    }

    @Test("config sizes that disagree with the checkpoint give a shape error")
    func configCheckpointMismatch() throws {
        let data = try Self.configWith { json in json["projection_dim"] = 64 }
        let e = try #require(Self.loadError(try Self.modelCopy("proj", config: data)) as? CheckpointError)
        guard case .wrongShape(_, _, let expected, let found) = e else { Issue.record("unexpected \(e)"); return }
        #expect(expected.first == 64 && found.first == 32)
    }

    @Test("missing model files")
    func missingFiles() throws {
        let dir = Fixtures.scratch.appendingPathComponent("bad/empty-dir")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let e = try #require(Self.loadError(dir.path) as? CheckpointError)
        #expect("\(e)".contains("config.json"))
    }

    // MARK: Images

    static func imageError(_ path: String, maxPixels: Int = ImageDecoder.defaultMaxPixels) -> ImageError? {
        do { _ = try ImageDecoder.decode(path: path, maxPixels: maxPixels); return nil } catch { return error }
    }

    @Test("missing, empty, non-image and directory paths")
    func badFiles() throws {
        #expect(Self.imageError("/nonexistent/x.jpg") == .missing(path: "/nonexistent/x.jpg"))
        let empty = try Fixtures.scratchFile("img/empty.jpg", Data())
        #expect(Self.imageError(empty) == .empty(path: empty))
        let text = try Fixtures.scratchFile("img/text.png", Data("hello, not an image".utf8))
        #expect(Self.imageError(text) == .notAnImage(path: text))
        guard case .unreadable? = Self.imageError(Fixtures.scratch.path) else { Issue.record("directory accepted"); return }
    }

    @Test("truncated JPEG and PNG files are errors, not grey padding", arguments: ["photo.jpg", "photo_progressive.jpg", "drawing.png", "drawing_interlaced.png"])
    func truncatedImages(name: String) throws {
        let full = try Fixtures.data("images/\(name)")
        for fraction in [0.1, 0.5, 0.9] {
            let cut = try Fixtures.scratchFile("img/cut-\(fraction)-\(name)", Data(full.prefix(Int(Double(full.count) * fraction))))
            let e = Self.imageError(cut)
            switch e {
            case .truncated?, .corrupt?: break
            default: Issue.record("\(name) cut to \(fraction): \(String(describing: e))")
            }
            #expect(e?.path == cut)
        }
    }

    @Test("corrupt data inside a valid header")
    func corruptImages() throws {
        var bytes = [UInt8](try Fixtures.data("images/drawing.png"))
        for i in stride(from: 100, to: bytes.count - 20, by: 7) { bytes[i] ^= 0x5A }
        let path = try Fixtures.scratchFile("img/corrupt.png", Data(bytes))
        #expect(Self.imageError(path) != nil)
    }

    @Test("images above the pixel limit are refused before decoding")
    func pixelLimit() throws {
        let path = Fixtures.path("images/photo.jpg")
        #expect(Self.imageError(path, maxPixels: 1000) == .tooLarge(path: path, width: 320, height: 240, limit: 1000))
        let png = Fixtures.path("images/wide.png")
        guard case .tooLarge? = Self.imageError(png, maxPixels: 999) else { Issue.record("PNG limit not enforced"); return }
        #expect(Self.imageError(path, maxPixels: 320 * 240) == nil)
    }

    @Test("wrong pixel count and out-of-range tokens are typed model errors")
    func modelInputErrors() throws {
        let model = try CLIPModel(directory: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32"))
        #expect(throws: CLIPModelError.self) { _ = try model.embedPixels([0, 1, 2], count: 1) }
        #expect(throws: CLIPModelError.tokenOutOfRange(token: 60000, vocabularySize: 49408)) {
            _ = try model.embedTokens([[49406, 60000, 49407]])
        }
        #expect(throws: CLIPModelError.emptySequence) { _ = try model.embedTokens([[]]) }
    }
}

extension CheckpointError {
    var fileForTest: String {
        switch self {
        case let .missingTensor(_, file), let .wrongShape(_, file, _, _), let .unsupportedDType(_, file, _), let .nonFinite(_, file, _, _): file
        case let .missingFile(path, _): path
        }
    }
}
