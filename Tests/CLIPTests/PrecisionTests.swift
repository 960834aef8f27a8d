import CLIP
import Foundation
import Platform
import Testing

/// bf16 towers against the fp32 ones and against transformers. bf16 rounds each product's
/// inputs to 8 significant bits; with fp32 accumulation and fp32 norms the features stay within
/// cosine 0.999 (the precision issue's bound). The products run through oneDNN, or through its
/// fallback on a CPU without bf16, so this suite runs on every machine.
@Suite("CLIP bf16 vs fp32")
struct PrecisionTests {
    @Test("text and image features: bf16 cosine ≥ 0.999 to fp32 and to transformers on every row", arguments: Fixtures.modelNames)
    func bf16MatchesFP32(model name: String) throws {
        let dir = try Fixtures.modelDirectory(name)
        let fp32 = try CLIPModel(directory: dir, precision: .fp32)
        let bf16 = try CLIPModel(directory: dir, precision: .bf16)
        #expect(bf16.precision == .bf16)
        let reference = try ModelTests.expected(name)

        let t32 = try fp32.embedTexts(reference.prompts)
        let t16 = try bf16.embedTexts(reference.prompts)
        var worstText = 1.0
        for i in 0..<reference.prompts.count {
            let c = cosine(t16.row(i), t32.row(i))
            worstText = min(worstText, c)
            #expect(c >= 0.999, "\(name): prompt \(i) bf16 vs fp32 cosine \(c)")
            #expect(cosine(t16.row(i), reference.textFeatures[i]) >= 0.999)
        }
        let images = try reference.images.map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
        let i32 = try fp32.embedImages(images)
        let i16 = try bf16.embedImages(images)
        var worstImage = 1.0
        for i in 0..<images.count {
            let c = cosine(i16.row(i), i32.row(i))
            worstImage = min(worstImage, c)
            #expect(c >= 0.999, "\(name): image \(reference.images[i]) bf16 vs fp32 cosine \(c)")
            #expect(cosine(i16.row(i), reference.imageFeatures[i]) >= 0.999)
        }
        // bf16 must actually change something: identical output would mean it silently ran fp32.
        #expect(i16.storage != i32.storage && t16.storage != t32.storage, "\(name): bf16 features equal fp32 bit for bit")
        print("[\(name)] bf16 vs fp32: min text cosine \(worstText), min image cosine \(worstImage)")
    }
}
