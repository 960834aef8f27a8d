// libFuzzer target: CLIP's BPE tokenizer on arbitrary text (`CLIPTokenizer.tokenize` and `decode`:
// text cleanup with ftfy's tables, pre-tokenisation, byte-level BPE, truncation to the context
// length, 77 or 5), with a small vocabulary (CLIP's byte symbols, its first 1,500 merges
// and the special tokens, fixtures/tokenizer-*). The input bytes are read as UTF-8 with
// replacement characters, as a prompt file is. Built with Sources/CLIP/{CLIPTokenizer,TextCleaner,
// TextCleanupTables,CLIPErrors}.swift, Platform's Precision and the C shim (gzip).
import Foundation

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("fixtures").path
let tokenizer: CLIPTokenizer = {
    do {
        return try CLIPTokenizer(vocabPath: fixtures + "/tokenizer-vocab.json", mergesPath: fixtures + "/tokenizer-merges.txt")
    } catch {
        fatalError("tokenizer fixture: \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // One pass per input (the cleanup dominates): odd sizes also truncate to a context of 5.
    let tokens = tokenizer.tokenize(text, contextLength: size % 2 == 1 ? 5 : nil)
    _ = tokenizer.decode(tokens)
    return 0
}
