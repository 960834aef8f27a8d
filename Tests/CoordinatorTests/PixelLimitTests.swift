import CLIP
import Foundation
import Testing

/// Issue 22 item 13: an image whose header declares more pixels than the limit is refused from
/// the header, before decoding allocates anything for it (the headers are crafted as the
/// image-job tests craft theirs, `ImageJobTests.decompressionBomb`).
@Suite("Pixel limit")
struct PixelLimitTests {
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    @Test("a 13000 × 13000 16-bit PNG is refused from its header under the default limit, naming size and limit, without allocating for it")
    func oversizedPNG() throws {
        #expect(ImageDecoder.defaultMaxPixels < 100_000_000)
        let data = ImageJobTests.decompressionBomb(side: 13_000, bitDepth: 16)
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
        let jpeg = ImageJobTests.fixtures.appendingPathComponent("images/photo.jpg").path
        #expect(throws: ImageError.self) { _ = try ImageDecoder.decode(path: jpeg, maxPixels: 320 * 240 - 1) }
        #expect(try ImageDecoder.decode(path: jpeg, maxPixels: 320 * 240).width == 320)
    }
}
