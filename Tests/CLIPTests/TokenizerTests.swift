import CLIP
import Foundation
import Testing

@Suite("Tokenizer")
struct TokenizerTests {
    @Test("ids identical to OpenAI/open_clip's SimpleTokenizer on the fixture strings")
    func matchesReference() throws {
        let tokenizer = try #require(Fixtures.tokenizer)
        let cases = try #require(try Fixtures.json("tokens.json") as? [[String: Any]])
        #expect(cases.count >= 300)
        var mismatches: [String] = []
        for c in cases {
            let text = try #require(c["text"] as? String)
            let expected = try #require(c["ids"] as? [Int])
            let ids = tokenizer.tokenize(text)
            if ids != expected { mismatches.append("\(text.debugDescription): got \(ids), expected \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(cases.count) differ:\n\(mismatches.prefix(10).joined(separator: "\n"))")
    }

    @Test("start/end tokens, truncation to 77 keeping the end token")
    func specialsAndTruncation() throws {
        let tokenizer = try #require(Fixtures.tokenizer)
        #expect(tokenizer.startToken == 49406)
        #expect(tokenizer.endToken == 49407)
        #expect(tokenizer.tokenize("") == [49406, 49407])
        let long = tokenizer.tokenize(String(repeating: "dog ", count: 200))
        #expect(long.count == 77)
        #expect(long.first == 49406 && long.last == 49407)
        #expect(tokenizer.tokenize(String(repeating: "dog ", count: 200), contextLength: 10).count == 10)
    }

    @Test("decode round-trips ordinary text")
    func decodeRoundTrip() throws {
        let tokenizer = try #require(Fixtures.tokenizer)
        #expect(tokenizer.decode(tokenizer.encode("a photo of a cat.")) == "a photo of a cat . ")
    }

    @Test("text cleanup: HTML entities, curly quotes, width forms, whitespace, case")
    func cleanup() {
        func clean(_ s: String) -> String { var out = ""; out.unicodeScalars.append(contentsOf: TextCleaner.clean(s)); return out }
        #expect(clean("Tom &amp; Jerry") == "tom & jerry")
        #expect(clean("&amp;amp;") == "&")
        #expect(clean("\u{201C}Hi\u{201D}  there\n") == "\"hi\" there")
        #expect(clean("ＬＯＵＤ　ＮＯＩＳＥＳ") == "loud noises")
        #expect(clean("ΣΊΣΥΦΟΣ") == "σίσυφος")
        #expect(clean("&#x263A;") == "☺")
    }

    @Test("a missing vocabulary file is a typed error naming it")
    func missingFiles() {
        #expect(throws: TokenizerError.self) {
            _ = try CLIPTokenizer(vocabPath: "/nonexistent/vocab.json", mergesPath: "/nonexistent/merges.txt")
        }
        do {
            _ = try CLIPTokenizer(vocabPath: "/nonexistent/vocab.json", mergesPath: "/nonexistent/merges.txt")
        } catch {
            #expect("\(error)".contains("/nonexistent/vocab.json"))
        }
    }
}
