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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    _ = try? ImageDecoder.probe(data: bytes, path: "fuzz.img")
    if let image = try? ImageDecoder.decode(data: bytes, path: "fuzz.img", maxPixels: 1 << 16) {
        _ = preprocessor(image)
        var out = [UInt8](repeating: 0, count: preprocessor.outputCount)
        out.withUnsafeMutableBufferPointer { preprocessor.processBytes(image, into: $0) }
    }
    _ = try? Gzip.decompress(bytes, maxOutput: 1 << 16)
    return 0
}
