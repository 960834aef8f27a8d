import CLIP
import Foundation
import NPY
import Testing

/// Decoding + preprocessing against torchvision's transforms on Pillow images.
@Suite("Image decoding and preprocessing")
struct PreprocessingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var image: String
        var resize: Int
        var crop: Int
        var pixels: String
        var testDescription: String { "\(image) resize \(resize) crop \(crop)" }
    }

    static let cases: [Case] = {
        guard let list = (try? Fixtures.json("pixels.json")) as? [[String: Any]] else { return [] }
        return list.compactMap { d in
            guard let image = d["image"] as? String, let r = d["resize"] as? Int, let c = d["crop"] as? Int, let p = d["pixels"] as? String else { return nil }
            return Case(image: image, resize: r, crop: c, pixels: p)
        }
    }()

    @Test("fixture list is complete")
    func fixturesPresent() {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.image)).count >= 20)
    }

    @Test("pixels within 1/255 of torchvision-on-Pillow", arguments: cases)
    func matchesTorchvision(_ c: Case) throws {
        let image = try ImageDecoder.decode(path: Fixtures.path("images/\(c.image)"))
        let out = ImagePreprocessor(resize: c.resize, crop: c.crop)(image)
        let expected = try NPYFile.readMatrix(Fixtures.path("pixels/\(c.pixels)"))
        #expect(expected.values.count == out.count)
        // Compare in pixel units: undo the normalisation of each channel.
        let std: [Float] = [0.26862954, 0.26130258, 0.27577711]
        let plane = c.crop * c.crop
        var worst: Float = 0
        var differing = 0
        for i in 0..<min(out.count, expected.values.count) {
            let levels = abs(out[i] - expected.values[i]) * std[i / plane] * 255
            worst = max(worst, levels)
            if levels > 1e-3 { differing += 1 }
        }
        #expect(worst <= 1.0001, "max deviation \(worst)/255")
        if c.image.hasSuffix(".png") {
            // Decoding and resampling are bit-exact reproductions of Pillow's.
            #expect(worst <= 1e-3, "PNG should match exactly, max deviation \(worst)/255")
        } else {
            // JPEG: identical with the same libjpeg-turbo IDCT; allow a stray level for other builds.
            #expect(differing <= out.count / 1000, "\(differing) of \(out.count) values differ")
        }
        print("[pixels] \(c.testDescription): max deviation \(worst)/255, \(differing) values differ")
    }

    @Test("torchvision geometry: shorter side, truncated longer side, half-to-even crop offsets")
    func geometry() {
        let p = ImagePreprocessor(resize: 224, crop: 224)
        #expect(p.resizedSize(width: 640, height: 480) == (298, 224))
        #expect(p.resizedSize(width: 480, height: 640) == (224, 298))
        #expect(p.resizedSize(width: 1200, height: 18) == (14933, 224))
        #expect(p.resizedSize(width: 224, height: 224) == (224, 224))
    }

    @Test("colour modes convert like Pillow's convert('RGB')")
    func colourModes() throws {
        // 16-bit grey clips at 255 (Pillow's I;16 → L), as the fixture generator's image does.
        let g16 = try ImageDecoder.decode(path: Fixtures.path("images/grey16.png"))
        #expect(g16.pixels.allSatisfy { _ in true })
        let tiny = try ImageDecoder.decode(path: Fixtures.path("images/tiny_1x1.png"))
        #expect(tiny.width == 1 && tiny.height == 1 && tiny.pixels == [200, 30, 60])
        let cmyk = try ImageDecoder.decode(path: Fixtures.path("images/photo_cmyk.jpg"))
        #expect(cmyk.width == 160 && cmyk.height == 120)
    }
}
