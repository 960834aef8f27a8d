import CLIP
import Foundation
import NPY
import Testing

/// Embeddings against `transformers` (`get_text_features` / `get_image_features`, normalised),
/// for fp32, fp16 and bf16 checkpoints of tiny random-weight CLIP models.
@Suite("CLIP model vs transformers")
struct ModelTests {
    struct Expected {
        var prompts: [String]
        var textFeatures: [[Float]]
        var images: [String]
        var imageFeatures: [[Float]]
        var logitScale: Float
    }

    static func expected(_ name: String) throws -> Expected {
        let json = try #require(try Fixtures.json("models/\(name)/expected.json") as? [String: Any])
        func matrix(_ key: String) throws -> [[Float]] {
            let rows = try #require(json[key] as? [[Double]])
            return rows.map { $0.map(Float.init) }
        }
        return Expected(
            prompts: try #require(json["prompts"] as? [String]),
            textFeatures: try matrix("text_features"),
            images: try #require(json["images"] as? [String]),
            imageFeatures: try matrix("image_features"),
            logitScale: Float(try #require(json["logit_scale"] as? Double))
        )
    }

    @Test("text features: cosine ≥ 0.9999 to transformers", arguments: Fixtures.modelNames)
    func textFeatures(model name: String) throws {
        let model = try CLIPModel(directory: try Fixtures.modelDirectory(name))
        let reference = try Self.expected(name)
        let features = try model.embedTexts(reference.prompts)
        #expect(features.rows == reference.prompts.count)
        var worst = 1.0
        for (i, prompt) in reference.prompts.enumerated() {
            let c = cosine(features.row(i), reference.textFeatures[i])
            worst = min(worst, c)
            #expect(c >= 0.9999, "\(name): prompt \(prompt.debugDescription) cosine \(c)")
        }
        print("[\(name)] text: \(reference.prompts.count) prompts, min cosine \(worst)")
        // expected.json holds the raw parameter; the model exposes exp(logit_scale).
        #expect(abs(model.logitScale - Foundation.exp(reference.logitScale)) <= 1e-4 * Foundation.exp(reference.logitScale))
    }

    @Test("image features from files: decode + preprocess + vision tower, cosine ≥ 0.9999", arguments: Fixtures.modelNames)
    func imageFeatures(model name: String) throws {
        let model = try CLIPModel(directory: try Fixtures.modelDirectory(name))
        let reference = try Self.expected(name)
        let images = try reference.images.map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
        let features = try model.embedImages(images)
        var worst = 1.0
        for (i, image) in reference.images.enumerated() {
            let c = cosine(features.row(i), reference.imageFeatures[i])
            worst = min(worst, c)
            #expect(c >= 0.9999, "\(name): \(image) cosine \(c)")
        }
        print("[\(name)] images: \(reference.images.count) files, min cosine \(worst)")
    }

    @Test("vision tower fed transformers' own pixels (fp16 checkpoint)")
    func pixelFed() throws {
        let name = "tiny-p16-gelu-fp16"
        let model = try CLIPModel(directory: try Fixtures.modelDirectory(name))
        let reference = try Self.expected(name)
        let pixels = try NPYFile.readMatrix(Fixtures.path("models/\(name)/pixels_photo.npy"))
        #expect(pixels.rows * pixels.cols == (try #require(model.vision)).pixelsPerImage)
        let features = try model.embedPixels(pixels.values, count: 1)
        let c = cosine(features.row(0), reference.imageFeatures[0])
        print("[\(name)] pixel-fed cosine \(c)")
        #expect(c >= 0.9999)
    }

    @Test("batching does not change results: one image at a time equals the batch")
    func batchInvariance() throws {
        let model = try CLIPModel(directory: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32"))
        let names = ["photo.jpg", "drawing.png", "wide.jpg"]
        let images = try names.map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
        let batch = try model.embedImages(images)
        for (i, image) in images.enumerated() {
            let single = try model.embedImages([image])
            #expect(cosine(single.row(0), batch.row(i)) > 0.999999)
        }
        let prompts = ["a", "a photo of a dog", "a photo of a very large and fluffy dog on the grass", "cat"]
        let together = try model.embedTexts(prompts)
        for (i, p) in prompts.enumerated() {
            #expect(cosine(try model.embedTexts([p]).row(0), together.row(i)) > 0.999999)
        }
    }
}
