import CImageCodecs
import Foundation
import Platform

/// A decoded image: tightly packed 8-bit RGB, row-major.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB buffer of \(pixels.count) bytes for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A solid-colour image (mostly for tests).
    public init(width: Int, height: Int, red: UInt8, green: UInt8, blue: UInt8) {
        self.init(width: width, height: height, pixels: Array([[UInt8]](repeating: [red, green, blue], count: width * height).joined()))
    }
}

/// The colour layout a file was stored in (before conversion to RGB).
public enum SourceColorMode: Int32, Sendable {
    case grey = 0, greyAlpha = 1, rgb = 2, rgba = 3, palette = 4, cmyk = 5, grey16 = 6
}

/// JPEG (libjpeg-turbo) and PNG (libpng) decoding to RGB, converted the way Pillow's
/// `Image.open(f).convert("RGB")` converts each mode: grey replicated, alpha dropped, palettes
/// looked up, 16-bit RGB(A) and grey+alpha reduced to their high byte, 16-bit grey clipped at 255
/// (Pillow's `I;16` → `L`), CMYK JPEGs read with Adobe's inverted polarity.
public enum ImageDecoder {
    /// Pillow's `Image.MAX_IMAGE_PIXELS` (its decompression-bomb warning threshold, about
    /// 9459² pixels): the default limit of every decoder here (`max_pixels` in a job,
    /// `--max-pixels` on `worker`, `run` and `embed-images`). The header's size is checked
    /// before anything is allocated; decoding an image under it takes at most 7 bytes a pixel
    /// (a CMYK JPEG or an interlaced RGBA PNG: the decoded samples and the RGB output), 3 bytes
    /// a pixel and one row for a non-interlaced PNG: about 630 MB and 270 MB at the default.
    public static let defaultMaxPixels = 89_478_485

    /// Reads and decodes a file.
    public static func decode(path: String, maxPixels: Int = defaultMaxPixels) throws(ImageError) -> RGBImage {
        do {
            try RegularFile.check(path)
        } catch {
            if error.problem == .missing { throw .missing(path: path) }
            throw .unreadable(path: path, reason: error.reason)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        return try decode(data: data, path: path, maxPixels: maxPixels)
    }

    /// Decodes bytes; `path` only labels errors.
    public static func decode(data: Data, path: String, maxPixels: Int = defaultMaxPixels) throws(ImageError) -> RGBImage {
        var image = adaneg_image()
        let status = data.withUnsafeBytes { raw -> adaneg_image_status in
            adaneg_decode_image(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, Int64(maxPixels), &image)
        }
        defer { adaneg_image_free(&image) }
        let message = Self.message(&image)
        switch status {
        case ADANEG_IMAGE_OK:
            let count = Int(image.width) * Int(image.height) * 3
            guard let pixels = image.pixels, count > 0 else { throw .corrupt(path: path, detail: "decoder returned no pixels") }
            return RGBImage(width: Int(image.width), height: Int(image.height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
        case ADANEG_IMAGE_EMPTY: throw .empty(path: path)
        case ADANEG_IMAGE_UNKNOWN_FORMAT: throw .notAnImage(path: path)
        case ADANEG_IMAGE_TRUNCATED: throw .truncated(path: path, detail: message)
        case ADANEG_IMAGE_TOO_LARGE: throw .tooLarge(path: path, width: Int(image.width), height: Int(image.height), limit: maxPixels)
        case ADANEG_IMAGE_NO_MEMORY: throw .outOfMemory(path: path)
        default: throw .corrupt(path: path, detail: message)
        }
    }

    /// Width, height and colour mode from the header only.
    public static func probe(data: Data, path: String) throws(ImageError) -> (width: Int, height: Int, mode: SourceColorMode) {
        var image = adaneg_image()
        let status = data.withUnsafeBytes { raw -> adaneg_image_status in
            adaneg_probe_image(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &image)
        }
        let message = Self.message(&image)
        switch status {
        case ADANEG_IMAGE_OK:
            return (Int(image.width), Int(image.height), SourceColorMode(rawValue: image.source_mode) ?? .rgb)
        case ADANEG_IMAGE_EMPTY: throw .empty(path: path)
        case ADANEG_IMAGE_UNKNOWN_FORMAT: throw .notAnImage(path: path)
        case ADANEG_IMAGE_TRUNCATED: throw .truncated(path: path, detail: message)
        default: throw .corrupt(path: path, detail: message)
        }
    }

    static func message(_ image: inout adaneg_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
