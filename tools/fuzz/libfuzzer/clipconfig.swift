// libFuzzer target: a Hugging Face CLIP `config.json` as the model loader reads it
// (`CLIPConfig.decode`: model type, both tower configs with their alternative spellings, the
// activations and the range checks), then the sizes the towers derive from a config that passed
// (head size, patch grid, patch count). Built with Sources/CLIP/{CLIPConfig,CLIPErrors}.swift and Platform's Precision.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCLIPConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let config = try? CLIPConfig.decode(Data(bytes: data, count: size), path: "config.json") else { return 0 }
    _ = config.text.headDim
    _ = config.vision.headDim
    _ = config.vision.gridSize
    _ = config.vision.numPatches
    return 0
}
