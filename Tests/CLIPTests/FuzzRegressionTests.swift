import CLIP
import Foundation
import Testing

/// Inputs libFuzzer found (scripts/fuzz/libfuzzer.sh), each a clear error now instead of a trap.
@Suite("libFuzzer regressions (CLIP)")
struct CLIPFuzzRegressionTests {
    /// clipconfig target: an image size that passes the positivity and divisibility checks but
    /// whose patch grid squared overflows (`numPatches` trapped on "arithmetic overflow").
    @Test("config.json sizes are bounded, so the patch grid cannot overflow", arguments: [
        #"{"text_config":{},"vision_config":{"image_size":9223372036854775807,"patch_size":1}}"#,
        #"{"text_config":{},"vision_config":{"image_size":[4294967296,4294967296],"patch_size":[1,1]}}"#,
    ])
    func hugeImageSize(json: String) throws {
        do {
            let config = try CLIPConfig.decode(Data(json.utf8), path: "config.json")
            Issue.record("accepted \(config.vision.imageSize)")
        } catch {
            guard case .invalid(_, let field, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(field == "vision_config.image_size" && reason.contains("at most \(CLIPConfig.maxImageSize)"))
        }
    }

    @Test("every architecture number has an upper bound", arguments: [
        ("projection_dim", ""), ("vocab_size", "text_config"), ("hidden_size", "text_config"), ("num_hidden_layers", "text_config"),
        ("max_position_embeddings", "text_config"), ("intermediate_size", "vision_config"), ("patch_size", "vision_config"),
    ])
    func bounded(key: String, tower: String) throws {
        var json: [String: Any] = ["text_config": [String: Any](), "vision_config": [String: Any]()]
        if tower.isEmpty { json[key] = Int.max } else { json[tower] = [key: Int.max] }
        let data = try JSONSerialization.data(withJSONObject: json)
        do {
            _ = try CLIPConfig.decode(data, path: "config.json")
            Issue.record("accepted \(key) = Int.max")
        } catch {
            guard case .invalid(_, let field, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(field.hasSuffix(key) && reason.contains("at most"))
        }
    }
}
