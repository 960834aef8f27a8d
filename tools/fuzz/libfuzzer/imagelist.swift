// libFuzzer target: OpenOOD image lists (`ImageList.parse`, with and without a default label)
// and reference resolution against a data root (`ImageList.lexicalProblem`), on arbitrary
// bytes. Built with Sources/JobSpec/ImageList.swift and JobSpecError.swift.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageList(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    for label in [nil, -1] as [Int?] {
        if let entries = try? ImageList.parse(bytes, file: "fuzz.txt", defaultLabel: label) {
            for entry in entries.prefix(64) {
                _ = ImageList.lexicalProblem(reference: entry.reference, dataRoot: "/data/root", allowOutsideRoot: false)
            }
        }
    }
    return 0
}
