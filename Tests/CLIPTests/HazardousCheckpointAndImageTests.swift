import CLIP
import Foundation
import Platform
import Testing

/// Issue 22 items 6, 13 and 15 at the model: checkpoints whose weights are not finite or whose
/// tensors overlap are refused at load, naming the tensors; an image whose header declares more
/// pixels than the limit is refused before anything is allocated for it.
@Suite("Hazardous checkpoints and images")
struct HazardousCheckpointAndImageTests {
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

    /// A PNG of a few dozen bytes whose header declares `side` × `side` 16-bit RGB pixels.
    static func png(side: UInt32, bitDepth: UInt8) -> Data {
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return ~c
        }
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return be(UInt32(body.count)) + typed + be(crc32(typed))
        }
        let idat: [UInt8] = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", be(side) + be(side) + [bitDepth, 2, 0, 0, 0])
                    + chunk("IDAT", idat) + chunk("IEND", []))
    }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    @Test("a 13000 × 13000 16-bit PNG is refused from its header under the default limit, naming size and limit, without allocating for it")
    func oversizedPNG() throws {
        #expect(ImageDecoder.defaultMaxPixels < 100_000_000)
        let data = Self.png(side: 13_000, bitDepth: 16)
        #expect(data.count < 100)
        let probe = try ImageDecoder.probe(data: data, path: "big.png")
        #expect(probe.width == 13_000 && probe.height == 13_000)
        let before = Self.peakResidentBytes()
        for _ in 0..<3 {
            #expect(throws: ImageError.tooLarge(path: "big.png", width: 13_000, height: 13_000, limit: ImageDecoder.defaultMaxPixels)) {
                _ = try ImageDecoder.decode(data: data, path: "big.png")
            }
        }
        // Decoding it would take about 1.2 GB (1 GB of 16-bit rows and 0.5 GB of RGB); the
        // refusal takes nothing measurable.
        #expect(Self.peakResidentBytes() - before < 200 << 20)
        let message = "\(ImageError.tooLarge(path: "big.png", width: 13_000, height: 13_000, limit: ImageDecoder.defaultMaxPixels))"
        #expect(message.contains("13000x13000") && message.contains("\(ImageDecoder.defaultMaxPixels)") && message.contains("max_pixels"))
        // A smaller limit applies the same way, to JPEGs too.
        let jpeg = Fixtures.path("images/photo.jpg")
        #expect(throws: ImageError.self) { _ = try ImageDecoder.decode(path: jpeg, maxPixels: 320 * 240 - 1) }
    }
}
