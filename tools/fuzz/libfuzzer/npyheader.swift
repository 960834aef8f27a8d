// libFuzzer target: the header-only NPY reader the job loader and the planner use
// (`NPYFile.readHeader`), which parses the header and compares the shape with the file size.
// It reads a path, so each input is written to one scratch file first. Built with Sources/NPY.
import Foundation

/// On tmpfs when there is one: the file is rewritten for every input.
let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "adaneg-fuzz-npyheader-\(getpid()).npy"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPYHeader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size))
    _ = try? NPYFile.readHeader(scratch)
    return 0
}
