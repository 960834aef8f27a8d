import AdaNeg
import Foundation
import NPY
import Testing

/// Issue 22 items 6, 13 and 15 on the command line: a checkpoint with a NaN weight is refused
/// by every command that loads it (no NaN row is ever written), the pixel limit is one flag
/// with one range everywhere, and input that would make the result meaningless is refused.
@Suite("Questionable input, command line", .serialized)
struct QuestionableInputCLITests {
    /// Writes NaN into the first element of `tensor` of the model's fp32 checkpoint.
    static func poison(model: String, tensor: String) throws {
        let url = URL(fileURLWithPath: model).appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: url)
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8 ..< 8 + headerLength)) as? [String: Any])
        let entry = try #require(header[tensor] as? [String: Any])
        let begin = try #require((entry["data_offsets"] as? [Int])?.first)
        #expect(entry["dtype"] as? String == "F32")
        let nan = Float.nan.bitPattern.littleEndian
        withUnsafeBytes(of: nan) { data.replaceSubrange(8 + headerLength + begin ..< 8 + headerLength + begin + 4, with: $0) }
        try data.write(to: url)
    }

    @Test("embed-text, embed-images and mine-negatives refuse a checkpoint with a NaN weight, naming the tensor; nothing is written")
    func nanCheckpoint() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try Self.poison(model: model, tensor: "visual_projection.weight")
        try Self.poison(model: model, tensor: "text_projection.weight")
        try "a photo of a cat\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        let text = try CLI.run(["embed-text", "--model", model, "--texts", s.path("texts.txt"), "--out", s.path("t.npy")],
                               environment: ["ADANEG_WEIGHT_CACHE": "off"])
        #expect(text.status == 2 && text.stderr.contains("text_projection.weight") && text.stderr.contains("finite"), "\(text.stderr)")
        #expect(!s.exists("t.npy"))

        let photo = TextCommandsTests.fixtures.appendingPathComponent("images/photo.jpg").path
        try "\(photo)\n".write(toFile: s.path("images.txt"), atomically: true, encoding: .utf8)
        let images = try CLI.run(["embed-images", "--model", model, "--images", s.path("images.txt"), "--out", s.path("i.npy")],
                                 environment: ["ADANEG_WEIGHT_CACHE": "off"])
        #expect(images.status == 2 && images.stderr.contains("visual_projection.weight") && images.stderr.contains("finite"), "\(images.stderr)")
        #expect(!s.exists("i.npy"))

        // Through the converted-weights cache: refused while converting, naming the model's file, nothing cached.
        let cached = try CLI.run(["embed-text", "--model", model, "--texts", s.path("texts.txt"), "--out", s.path("t.npy")],
                                 environment: ["ADANEG_CACHE_DIR": s.path("cache"), "ADANEG_WEIGHT_CACHE": nil])
        #expect(cached.status == 2 && cached.stderr.contains("text_projection.weight") && cached.stderr.contains(model + "/model.safetensors"), "\(cached.stderr)")
        let leftovers = FileManager.default.enumerator(atPath: s.path("cache"))?.compactMap { $0 as? String }.filter { $0.hasSuffix(".safetensors") } ?? []
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(!s.exists("t.npy"))

        try "tench\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let mined = try CLI.run(["mine-negatives", "--model", model, "--classes", s.path("classes.txt"), "--out", s.path("neg"), "--count", "4"],
                                environment: ["ADANEG_WEIGHT_CACHE": "off"])
        #expect(mined.status == 2 && mined.stderr.contains("text_projection.weight"), "\(mined.stderr)")
        #expect(!s.exists("neg/text-features.npy"))
    }

    @Test("mine-negatives --template without {} is refused: every class would get the same prompt")
    func templateWithoutPlaceholder() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try "tench\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["mine-negatives", "--model", model, "--classes", s.path("classes.txt"), "--out", s.path("neg"),
                             "--template", "A photo of {}.", "--template", "A photo."])
        #expect(r.status == 2 && r.stderr.contains("--template 'A photo.'") && r.stderr.contains("{}"), "\(r.stderr)")
        #expect(!s.exists("neg/text-features.npy"))
    }

    @Test("--max-pixels out of range is refused with one message by worker, run and embed-images")
    func maxPixelsRange() throws {
        let s = try Scratch()
        try "name: x\n".write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        for value in ["0", "-3", "5000000000"] {
            for arguments in [["worker", "--coordinator", "http://127.0.0.1:9", "--max-pixels", value],
                              ["run", s.path("job.yaml"), "--max-pixels", value],
                              ["embed-images", "--model", s.path("none"), "--images", s.path("none.txt"), "--out", s.path("x.npy"), "--max-pixels", value]] {
                let r = try CLI.run(arguments)
                #expect(r.status == 2 && r.stderr.contains("--max-pixels must be in 1...1000000000 (got \(value))"),
                        "\(arguments[0]) --max-pixels \(value): \(r.status) \(r.stderr)")
            }
        }
    }

    @Test("embed-images: an image over --max-pixels is that image's error naming its size and the limit")
    func imageOverTheLimit() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let photo = TextCommandsTests.fixtures.appendingPathComponent("images/photo.jpg").path
        try "\(photo)\n".write(toFile: s.path("images.txt"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["embed-images", "--model", model, "--images", s.path("images.txt"), "--out", s.path("x.npy"), "--max-pixels", "1000"])
        #expect(r.status == 2 && r.stderr.contains("320x240") && r.stderr.contains("pixel limit of 1000"), "\(r.stderr)")
    }

    @Test("score-features --logit-scale: above 1000 refused, above 100 warned, both naming the value")
    func logitScale() throws {
        let s = try Scratch()
        let data = SyntheticBenchmark(shape: .init(classes: 4, negatives: 12, dimension: 8, idSamples: 16, oodSamples: 8), seed: 3)
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: 8, to: s.path("images.npy"))
        let base = ["score-features", "--image-features", s.path("images.npy"), "--text-features", s.path("text.npy"), "--num-id", "4", "--groups", "4"]
        let refused = try CLI.run(base + ["--out", s.path("a.csv"), "--logit-scale", "5000"])
        #expect(refused.status == 2 && refused.stderr.contains("logit_scale must be in") && refused.stderr.contains("1000"), "\(refused.stderr)")
        let warned = try CLI.run(base + ["--out", s.path("b.csv"), "--logit-scale", "500"])
        #expect(warned.status == 0 && warned.stderr.contains("warning: logit_scale 500"), "\(warned.stderr)")
        let csv = try String(contentsOfFile: s.path("b.csv"), encoding: .utf8)
        #expect(!csv.lowercased().contains("nan"))
    }
}
