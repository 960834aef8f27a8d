// libFuzzer target: JPEG and PNG bytes through the C shim over libjpeg-turbo and libpng
// (`ImageDecoder.probe` and `decode`, at most 2¹⁶ pixels: a few-byte header can declare a
// megapixel image, and decoding those made the target run at 250 inputs/s; the code paths of a
// 256 × 256 image are those of a large one, and larger ones exercise the refusal), each decoded
// image through CLIP's preprocessing (resize and centre crop to 16 × 16, normalised floats and
// bytes); also the same bytes through the shim's gunzip (`Gzip.decompress`, ≤ 64 KiB out). The
// shim's C code is compiled with `-fsanitize=fuzzer-no-link,address`. Built with
// Sources/CImageCodecs and Sources/CLIP/{ImageDecoding,ImagePreprocessing,CLIPTokenizer,
// TextCleaner,TextCleanupTables,CLIPErrors}.swift (Gzip lives beside the tokenizer) and Platform's Precision.
import Foundation

let preprocessor = ImagePreprocessor(resize: 16, crop: 16)
/// The target's pixel limit (`max_pixels`): 2¹⁶, far below the default of 89,478,485.
let pixelLimit = 1 << 16

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    _ = try? ImageDecoder.probe(data: bytes, path: "fuzz.img")
    if let image = try? ImageDecoder.decode(data: bytes, path: "fuzz.img", maxPixels: pixelLimit) {
        // The limit is checked against the header before anything is allocated: nothing larger
        // ever comes out (a decoder that ignored it would allocate what a header declares).
        precondition(image.width * image.height <= pixelLimit, "decoded \(image.width)x\(image.height), past the pixel limit")
        _ = preprocessor(image)
        var out = [UInt8](repeating: 0, count: preprocessor.outputCount)
        out.withUnsafeMutableBufferPointer { preprocessor.processBytes(image, into: $0) }
    }
    _ = try? Gzip.decompress(bytes, maxOutput: 1 << 16)
    return 0
}
