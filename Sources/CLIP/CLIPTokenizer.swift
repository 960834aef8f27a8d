import CImageCodecs
import Foundation
import Platform

/// OpenAI CLIP's byte-level BPE tokenizer (`SimpleTokenizer`, as in open_clip), reading the
/// Hugging Face files `vocab.json` and `merges.txt`.
///
/// `tokenize` = start token, the BPE of the cleaned text, end token; longer than the context
/// length (77), it is cut and its last position set back to the end token. Literal
/// `<|startoftext|>`/`<|endoftext|>` in the text become those tokens, as in OpenAI's code.
public final class CLIPTokenizer: @unchecked Sendable {
    public let vocabulary: [String: Int]
    public let startToken: Int
    public let endToken: Int
    public let contextLength: Int
    let ranks: [String: Int]            // "first second" → merge rank
    let byteEncoder: [Unicode.Scalar]   // byte → printable stand-in
    let decoder: [Int: String]
    private var cache: [String: [Int]] = [:]
    private let lock = NSLock()

    public static let startOfText = "<|startoftext|>"
    public static let endOfText = "<|endoftext|>"

    // MARK: Loading

    /// Loads `vocab.json` and `merges.txt` (either may be gzip-compressed, named `….gz`).
    public convenience init(vocabPath: String, mergesPath: String, contextLength: Int = 77) throws(TokenizerError) {
        let vocabData = try Self.readFile(vocabPath)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: vocabData) } catch {
            throw .malformed(path: vocabPath, line: nil, reason: "not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw .malformed(path: vocabPath, line: nil, reason: "not a JSON object of token → id") }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(dict.count)
        for (token, value) in dict {
            guard let id = (value as? NSNumber)?.intValue else { throw .malformed(path: vocabPath, line: nil, reason: "id of '\(token)' is not an integer") }
            vocabulary[token] = id
        }
        let mergesData = try Self.readFile(mergesPath)
        guard let text = String(data: mergesData, encoding: .utf8) else { throw .malformed(path: mergesPath, line: nil, reason: "not UTF-8 text") }
        var merges: [(String, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if index == 0 && line.hasPrefix("#version") { continue }
            let trimmed = line.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else { throw .malformed(path: mergesPath, line: index + 1, reason: "expected two symbols separated by a space, found '\(trimmed)'") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocabulary: vocabulary, merges: merges, contextLength: contextLength, source: vocabPath)
    }

    public init(vocabulary: [String: Int], merges: [(String, String)], contextLength: Int = 77, source: String = "vocabulary") throws(TokenizerError) {
        guard let start = vocabulary[Self.startOfText] else { throw .missingToken(path: source, token: Self.startOfText) }
        guard let end = vocabulary[Self.endOfText] else { throw .missingToken(path: source, token: Self.endOfText) }
        self.vocabulary = vocabulary
        self.startToken = start
        self.endToken = end
        self.contextLength = contextLength
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() where ranks[merge.0 + " " + merge.1] == nil {
            ranks[merge.0 + " " + merge.1] = rank
        }
        self.ranks = ranks
        self.byteEncoder = Self.bytesToUnicode()
        var decoder: [Int: String] = [:]
        for (k, v) in vocabulary { decoder[v] = k }
        self.decoder = decoder
    }

    static func readFile(_ path: String) throws(TokenizerError) -> Data {
        let data: Data
        do { data = try RegularFile.read(path) } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
        guard path.hasSuffix(".gz") else { return data }
        do { return try Gzip.decompress(data) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }

    /// GPT-2's reversible byte → printable character table.
    static func bytesToUnicode() -> [Unicode.Scalar] {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(256 + extra) ?? " "
                extra += 1
            }
        }
        return table
    }

    // MARK: Tokenizing

    /// Start token, BPE ids, end token; truncated to the context length keeping the end token.
    public func tokenize(_ text: String, contextLength: Int? = nil) -> [Int] {
        let limit = contextLength ?? self.contextLength
        var tokens = [startToken] + encode(text) + [endToken]
        if limit > 0, tokens.count > limit {
            tokens.removeLast(tokens.count - limit)
            tokens[limit - 1] = endToken
        }
        return tokens
    }

    /// The BPE ids of the cleaned text, without start and end tokens.
    public func encode(_ text: String) -> [Int] {
        let cleaned = TextCleaner.clean(text)
        var ids: [Int] = []
        for piece in Self.preTokenize(cleaned) {
            var word = ""
            word.unicodeScalars.append(contentsOf: piece)
            if word == Self.startOfText { ids.append(startToken); continue }
            if word == Self.endOfText { ids.append(endToken); continue }
            ids += bpe(word)
        }
        return ids
    }

    /// Text back from ids (`</w>` becomes a space), for inspection.
    public func decode(_ ids: [Int]) -> String {
        var reverse: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in byteEncoder.enumerated() { reverse[c] = UInt8(b) }
        var bytes: [UInt8] = []
        for id in ids {
            guard let token = decoder[id] else { continue }
            if token == Self.startOfText || token == Self.endOfText { bytes += Array(token.utf8); continue }
            var t = token
            let wordEnd = t.hasSuffix("</w>")
            if wordEnd { t.removeLast(4) }
            for c in t.unicodeScalars { if let b = reverse[c] { bytes.append(b) } }
            if wordEnd { bytes.append(0x20) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Pre-tokenisation

    /// CLIP's pattern, `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
    /// scanned left to right over code points (the text is already lower-case).
    static func preTokenize(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        let specials = [Array(startOfText.unicodeScalars), Array(endOfText.unicodeScalars)]
        let contractions = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }
        var out: [ArraySlice<Unicode.Scalar>] = []
        var i = 0
        scan: while i < s.count {
            for special in specials where s[i] == "<" && i + special.count <= s.count && Array(s[i..<(i + special.count)]) == special {
                out.append(s[i..<(i + special.count)])
                i += special.count
                continue scan
            }
            if s[i] == "'" {
                for c in contractions where i + 1 + c.count <= s.count && Array(s[(i + 1)..<(i + 1 + c.count)]) == c {
                    out.append(s[i..<(i + 1 + c.count)])
                    i += 1 + c.count
                    continue scan
                }
            }
            let c = s[i]
            if isLetter(c) {
                var j = i + 1
                while j < s.count, isLetter(s[j]) { j += 1 }
                out.append(s[i..<j])
                i = j
            } else if isNumber(c) {
                out.append(s[i...i])
                i += 1
            } else if isRegexSpace(c) {
                i += 1
            } else {
                var j = i + 1
                while j < s.count, !isLetter(s[j]), !isNumber(s[j]), !isRegexSpace(s[j]) { j += 1 }
                out.append(s[i..<j])
                i = j
            }
        }
        return out
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return (c.value | 0x20) >= 0x61 && (c.value | 0x20) <= 0x7A }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return c.value >= 0x30 && c.value <= 0x39 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isRegexSpace(_ c: Unicode.Scalar) -> Bool {
        TextCleaner.isPythonSpace(c) || c.properties.isWhitespace
    }

    // MARK: BPE

    /// Byte-level BPE of one pre-token: bytes mapped to printable stand-ins, the last symbol
    /// marked `</w>`, then the lowest-ranked adjacent pair merged until none is in the table.
    func bpe(_ token: String) -> [Int] {
        lock.lock()
        if let hit = cache[token] { lock.unlock(); return hit }
        lock.unlock()
        var word: [String] = token.utf8.map { String(Character(byteEncoder[Int($0)])) }
        guard !word.isEmpty else { return [] }
        word[word.count - 1] += "</w>"
        while word.count > 1 {
            var best = Int.max
            var bestIndex = -1
            for i in 0..<(word.count - 1) {
                if let r = ranks[word[i] + " " + word[i + 1]], r < best { best = r; bestIndex = i }
            }
            guard bestIndex >= 0 else { break }
            let first = word[bestIndex], second = word[bestIndex + 1]
            // Merge every occurrence of the pair, left to right (as the reference does).
            var merged: [String] = []
            merged.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i < word.count - 1, word[i] == first, word[i + 1] == second {
                    merged.append(first + second)
                    i += 2
                } else {
                    merged.append(word[i])
                    i += 1
                }
            }
            word = merged
        }
        // Every symbol reachable by merges is in the vocabulary; fall back to bytes if a
        // hand-edited vocabulary lacks one.
        var ids: [Int] = []
        for symbol in word {
            if let id = vocabulary[symbol] {
                ids.append(id)
            } else {
                let isEnd = symbol.hasSuffix("</w>")
                let body = isEnd ? String(symbol.dropLast(4)) : symbol
                let chars = Array(body.unicodeScalars)
                for (k, c) in chars.enumerated() {
                    let piece = String(Character(c)) + (isEnd && k == chars.count - 1 ? "</w>" : "")
                    if let id = vocabulary[piece] { ids.append(id) }
                }
            }
        }
        lock.lock()
        if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
        cache[token] = ids
        lock.unlock()
        return ids
    }
}

// MARK: - gzip

/// gzip/zlib decompression through the system zlib (for compressed vocabularies and fixtures).
public enum Gzip {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func decompress(_ data: Data, maxOutput: Int = 1 << 32) throws(Failure) -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var outSize = 0
        var message = [CChar](repeating: 0, count: 200)
        let rc = data.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return -1 }
            return adaneg_gunzip(base, raw.count, maxOutput, &out, &outSize, &message, message.count)
        }
        guard rc == 0, let buffer = out else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure(description: data.isEmpty ? "empty input" : text)
        }
        let result = Data(bytes: buffer, count: outSize)
        adaneg_buffer_free(buffer)
        return result
    }
}
