// libFuzzer target: the ID class-names file (`ClassNamesFile.read`: UTF-8 check, one trimmed
// name per line, CRLF endings, blank lines refused, repeats reported),
// on arbitrary bytes. It reads a path, so each input is written to one scratch file first.
// Built with Sources/JobSpec/{ClassNamesFile,JobSpecError}.swift.
import Foundation

/// On tmpfs when there is one: the file is rewritten for every input.
let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "adaneg-fuzz-classnames-\(getpid()).txt"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClassNames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size))
    if let names = try? ClassNamesFile.read(scratch) { _ = names.repeats.count }
    return 0
}
