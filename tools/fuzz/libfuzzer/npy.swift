// libFuzzer target: NPY parsing (`NPYFile.parse`) and element conversion, on arbitrary bytes.
// Built by scripts/fuzz/libfuzzer.sh together with Sources/NPY.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let array = try? NPYFile.parse(bytes, path: "fuzz.npy") {
        _ = array.floats()
        _ = try? array.integers()
        _ = array.matrixShape
    }
    return 0
}
