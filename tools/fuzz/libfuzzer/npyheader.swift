// libFuzzer target: the job loader's header-only NPY check (`NPYHeaderCheck.read`), which
// parses the shape itself and compares it with the file size. It reads a path, so each input is
// written to one scratch file first. Built with Sources/NPY and Sources/JobSpec/NPYHeaderCheck.
import Foundation

/// On tmpfs when there is one: the file is rewritten for every input.
let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "adaneg-fuzz-npyheader-\(getpid()).npy"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPYHeader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size))
    _ = try? NPYHeaderCheck.read(scratch)
    return 0
}
