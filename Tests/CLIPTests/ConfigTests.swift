import CLIP
import Foundation
import Testing

/// `config.json` decoding: every architecture number comes from the file, with transformers'
/// defaults for absent keys, for the layouts OpenAI's checkpoints were published in.
@Suite("config.json")
struct ConfigTests {
    /// The shape of openai/clip-vit-large-patch14's config: `*_config_dict` next to `*_config`,
    /// the legacy `eos_token_id: 2`, most defaults left out.
    static let largePatch14 = #"""
    {
      "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 768,
      "logit_scale_init_value": 2.6592, "initializer_factor": 1.0,
      "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                      "num_hidden_layers": 12, "projection_dim": 768, "eos_token_id": 2, "bos_token_id": 0},
      "text_config_dict": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                           "num_hidden_layers": 12, "projection_dim": 768, "eos_token_id": 2},
      "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                        "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768, "image_size": 224},
      "vision_config_dict": null
    }
    """#

    @Test("ViT-L/14 layout: numbers from the file, defaults for the rest")
    func largePatch14Layout() throws {
        let c = try CLIPConfig.decode(Data(Self.largePatch14.utf8), path: "config.json")
        #expect(c.projectionDim == 768)
        #expect(c.text.hiddenSize == 768 && c.text.numAttentionHeads == 12 && c.text.numHiddenLayers == 12)
        #expect(c.text.vocabSize == 49408 && c.text.maxPositionEmbeddings == 77)
        #expect(c.text.eosTokenId == 2)
        #expect(c.vision.hiddenSize == 1024 && c.vision.numHiddenLayers == 24 && c.vision.numAttentionHeads == 16)
        #expect(c.vision.patchSize == 14 && c.vision.imageSize == 224 && c.vision.numPatches == 256)
        #expect(c.textActivation == .quickGELU && c.visionActivation == .quickGELU)
        #expect(c.text.layerNormEps == 1e-5)
    }

    @Test("fixture configs decode to what the generator asked for")
    func fixtureConfigs() throws {
        let fp16 = try CLIPConfig.load(path: Fixtures.path("models/tiny-p16-gelu-fp16/config.json"))
        #expect(fp16.vision.patchSize == 16 && fp16.vision.imageSize == 112 && fp16.visionActivation == .gelu)
        #expect(fp16.text.eosTokenId == 49407 && fp16.text.numAttentionHeads == 8)
        let fp32 = try CLIPConfig.load(path: Fixtures.path("models/tiny-p32-quickgelu-fp32/config.json"))
        #expect(fp32.vision.patchSize == 32 && fp32.textActivation == .quickGELU && fp32.projectionDim == 32)
    }

    @Test("list-valued eos_token_id and square [h, w] sizes are accepted; non-square refused")
    func variants() throws {
        let ok = #"{"model_type":"clip","text_config":{"eos_token_id":[49407, 1]},"vision_config":{"image_size":[336,336],"patch_size":14}}"#
        let c = try CLIPConfig.decode(Data(ok.utf8), path: "c.json")
        #expect(c.text.eosTokenId == 49407 && c.vision.imageSize == 336)
        let bad = #"{"model_type":"clip","text_config":{},"vision_config":{"image_size":[336,224]}}"#
        #expect(throws: CLIPConfigError.self) { _ = try CLIPConfig.decode(Data(bad.utf8), path: "c.json") }
        let wrongType = #"{"model_type":"clip","text_config":{"hidden_size":"big"},"vision_config":{}}"#
        do {
            _ = try CLIPConfig.decode(Data(wrongType.utf8), path: "c.json")
            Issue.record("accepted a string hidden_size")
        } catch {
            #expect("\(error)".contains("hidden_size"))
        }
    }
}
