// libFuzzer target: CLIP's BPE tokenizer on arbitrary text (`CLIPTokenizer.tokenize`, `encode`
// and `decode`: text cleanup with ftfy's tables, pre-tokenisation, byte-level BPE, truncation
// to the context length), with a small vocabulary (CLIP's byte symbols, its first 1,500 merges
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
    let tokens = tokenizer.tokenize(text)
    _ = tokenizer.tokenize(text, contextLength: 5)
    _ = tokenizer.decode(tokens)
    return 0
}
