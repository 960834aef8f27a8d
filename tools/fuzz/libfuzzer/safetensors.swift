// libFuzzer target: safetensors checkpoints as the model loader opens them (`SafetensorsFile(path:)`:
// the file is memory-mapped, the 8-byte header length checked against the file size, the JSON
// header parsed and every tensor's dtype, shape and data offsets checked against each other and
// the data section, overlapping byte ranges refused), then each small tensor converted to Float
// (`floats`) and scanned for NaN and ±∞ (`firstNonFinite`). It reads a path, so
// each input is written to one scratch file first. Built with Sources/CLIP/{Safetensors,CLIPErrors}.swift, Platform's RegularFile,
// Platform's Precision and the stand-in for Tensor's MappedWeights (tensor-mappedweights-stub.swift).
import Foundation

/// On tmpfs when there is one: the file is rewritten for every input.
let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "adaneg-fuzz-safetensors-\(getpid()).safetensors"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size))
    guard let file = try? SafetensorsFile(path: scratch) else { return 0 }
    for (name, info) in file.tensors where info.offsets.count <= 1 << 16 {
        if let values = file.floats(name) { _ = values.count }
        _ = file.firstNonFinite(name)
    }
    return 0
}
