import CLIP
import Foundation
import Platform
import Testing

/// Issue 22 items 6 and 15 at the model: checkpoints whose weights are not finite or whose
/// tensors overlap are refused at load, naming the tensors. (The pixel limit's test, which
/// crafts PNG headers as the image-job tests do, is `PixelLimitTests` beside them.)
@Suite("Hazardous checkpoints")
struct HazardousCheckpointTests {
    /// The fixture checkpoint with `value` written into element `index` of tensor `name`.
    static func poisoned(_ name: String, index: Int = 3, value: Float) throws -> String {
        let data = try BadInputTests.editedCheckpoint { entries in
            guard let i = entries.firstIndex(where: { $0.name == name }) else { return }
            var floats = entries[i].bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            floats[index] = value
            entries[i].bytes = SafetensorsWriter.floats(floats)
        }
        return try BadInputTests.modelCopy("poisoned-\(name)-\(value)", weights: data)
    }

    @Test("a NaN or ∞ weight is refused at load, naming the tensor and the element, in every tower and precision",
          arguments: [("vision_model.encoder.layers.0.mlp.fc1.weight", Float.nan), ("text_model.final_layer_norm.bias", Float.infinity),
                      ("visual_projection.weight", -Float.infinity), ("logit_scale", Float.nan)])
    func nonFiniteWeights(name: String, value: Float) throws {
        let dir = try Self.poisoned(name, index: name == "logit_scale" ? 0 : 3, value: value)
        for precision in [Precision.fp32, .bf16] {
            do {
                _ = try CLIPModel(directory: dir, precision: precision)
                Issue.record("\(name) = \(value) loaded in \(precision)")
            } catch let error as CheckpointError {
                guard case let .nonFinite(tensor, file, index, _) = error else { Issue.record("unexpected \(error)"); continue }
                #expect(tensor == name && file.hasSuffix("model.safetensors") && index == (name == "logit_scale" ? 0 : 3))
                #expect("\(error)".contains(name) && "\(error)".contains("finite"), "\(error)")
            }
        }
    }

    @Test("a NaN weight stored in place (F32 at an aligned offset, mapped, never converted) is refused too")
    func nonFiniteMappedWeight() throws {
        let path = URL(fileURLWithPath: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")).appendingPathComponent("model.safetensors").path
        let clean = try SafetensorsFile(path: path)
        for name in clean.tensors.keys { #expect(clean.firstNonFinite(name) == nil, "\(name)") }
        let dir = try Self.poisoned("vision_model.encoder.layers.1.self_attn.out_proj.weight", index: 7, value: .nan)
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let bad = try #require(file.firstNonFinite("vision_model.encoder.layers.1.self_attn.out_proj.weight"))
        #expect(bad.index == 7 && bad.value.isNaN)
    }

    @Test("tensors whose byte ranges overlap are refused at load, naming both")
    func overlappingTensors() throws {
        let header = #"{"a.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b.weight": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        data.append(Data(count: 12))
        #expect(throws: SafetensorsError.overlappingTensors(path: "x.safetensors", first: "a.weight", firstBytes: 0..<8, second: "b.weight", secondBytes: 4..<12)) {
            _ = try SafetensorsFile(data: data, path: "x.safetensors")
        }
        let message = "\(SafetensorsError.overlappingTensors(path: "x", first: "a.weight", firstBytes: 0..<8, second: "b.weight", secondBytes: 4..<12))"
        #expect(message.contains("'a.weight'") && message.contains("'b.weight'") && message.contains("overlap"))
        // Adjacent ranges and empty tensors are fine.
        let fine = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#
        var ok = Data()
        var okLength = UInt64(fine.utf8.count).littleEndian
        withUnsafeBytes(of: &okLength) { ok.append(contentsOf: $0) }
        ok.append(Data(fine.utf8))
        ok.append(Data(count: 12))
        #expect(try SafetensorsFile(data: ok, path: "ok").tensors.count == 3)
    }
}
