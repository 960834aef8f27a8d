// libFuzzer target: the NegMining candidate lexicon (`LexiconFile.read`: `word<TAB>noun` or
// `word<TAB>adj` lines, comments and blank lines skipped, repeats dropped, malformed lines listed),
// on arbitrary bytes. It reads a path, so each input is written to one scratch file first.
// Built with Sources/JobSpec/{LexiconFile,JobSpecError}.swift.
import Foundation

/// On tmpfs when there is one: the file is rewritten for every input.
let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "adaneg-fuzz-lexicon-\(getpid()).txt"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLexicon(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size))
    if let lexicon = try? LexiconFile.read(scratch) { _ = lexicon.nouns.count + lexicon.adjectives.count }
    return 0
}
