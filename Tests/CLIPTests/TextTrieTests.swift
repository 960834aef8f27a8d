@testable import CLIP
import Foundation
import Platform
import Testing

/// The text tower over a trie of the prompts' tokens (`TokenTrie`, `runTree`): each shared
/// prefix computed once must give what encoding every prompt on its own gives.
@Suite("Text tower over a token trie")
struct TextTrieTests {
    /// Prompts as NegMining builds them (two templates, words sharing first pieces), repeats,
    /// a prompt that is another's prefix before its end token, and the fixtures' own prompts.
    static func prompts() throws -> [String] {
        let words = ["rock", "rock music", "rocket", "cloud", "cloudberry", "tax", "taxi", "violin", "rock"]
        return words.map { "The nice \($0)." } + ["quick", "purple", "purple heart"].map { "This is a \($0) photo." }
            + (try ModelTests.expected(Fixtures.modelNames[0]).prompts)
    }

    @Test("the trie holds every distinct prefix once; each sequence's path spells it; chunks respect their row limit")
    func trieStructure() {
        let sequences = [[1, 5, 7, 2], [1, 5, 8, 2], [1, 5, 7, 2], [1, 6, 2], [1, 5, 7, 9, 2], [3]]
        let whole = TokenTrie(sequences, maxRows: 100)
        #expect(whole.chunks.count == 1)
        let chunk = whole.chunks[0]
        let prefixes = Set(sequences.flatMap { s in (1...s.count).map { Array(s[..<$0]) } })
        #expect(chunk.count == prefixes.count)
        var seen = Set<Int>()
        for (row, index) in chunk.sequences.enumerated() {
            seen.insert(index)
            let node = chunk.pooledNodes[row]
            let path = chunk.path(node).map { Int($0) }
            #expect(path.map { chunk.tokens[$0] } == sequences[index], "sequence \(index)")
            #expect(path.map { chunk.positions[$0] } == Array(0..<sequences[index].count))
            #expect(path.last == node)
            #expect(zip(path, path.dropFirst()).allSatisfy { $0 < $1 }, "parents come before their children")
        }
        #expect(seen == Set(sequences.indices))
        // The two identical sequences end at the same node.
        #expect(chunk.pooledNodes[chunk.sequences.firstIndex(of: 0)!] == chunk.pooledNodes[chunk.sequences.firstIndex(of: 2)!])

        let small = TokenTrie(sequences, maxRows: 5)
        #expect(small.chunks.count > 1)
        #expect(small.chunks.allSatisfy { $0.count <= 5 })
        #expect(Set(small.chunks.flatMap(\.sequences)) == Set(sequences.indices))
        for c in small.chunks {
            for (row, index) in c.sequences.enumerated() {
                #expect(c.path(c.pooledNodes[row]).map { c.tokens[Int($0)] } == sequences[index])
            }
        }
        var padded = chunk
        padded.pad(toMultipleOf: 8)
        #expect(padded.count % 8 == 0 && padded.count >= chunk.count)
        #expect((chunk.count ..< padded.count).allSatisfy { padded.path($0).map { Int($0) } == [$0] })
    }

    @Test("trie path equals the per-prompt (length-grouped) encoder: fp32 cosine ≥ 0.99999, bf16 ≥ 0.9999 on every row",
          arguments: Fixtures.modelNames)
    func trieMatchesPerPrompt(model name: String) throws {
        for precision in Precision.allCases {
            let model = try CLIPModel(directory: try Fixtures.modelDirectory(name), towers: .text, precision: precision)
            let text = try #require(model.text)
            let tokenizer = try #require(model.tokenizer)
            let element = try #require(TransformerEncoder.fusedElement(text.encoder), "no fused encoder: the trie path would not run")
            let tokens = try Self.prompts().map { tokenizer.tokenize($0) }
            let lengths = try text.encodedLengths(tokens)
            let trie = text.embedTrie(tokens, lengths: lengths, element: element, rows: TextTransformer.defaultChunkRows, encoder: text.encoder)
            let perPrompt = text.embedByLength(tokens, lengths: lengths)
            let d = model.config.projectionDim
            let bound = precision == .fp32 ? 0.99999 : 0.9999
            var worst = 1.0
            for i in tokens.indices {
                let c = cosine(Array(trie[i * d ..< (i + 1) * d]), Array(perPrompt[i * d ..< (i + 1) * d]))
                worst = min(worst, c)
                #expect(c >= bound, "\(name) \(precision): prompt \(i) cosine \(c)")
            }
            print("[\(name)] \(precision): trie vs per prompt, min cosine \(worst)")
        }
    }

    /// The chunk size is a speed choice only (it may be chosen per CPU): every node's arithmetic
    /// is the same whatever chunk it lands in, so the features must not change by a bit.
    @Test("the chunk size changes no bit of the features", arguments: Fixtures.modelNames)
    func chunkSizeInvariant(model name: String) throws {
        for precision in Precision.allCases {
            let model = try CLIPModel(directory: try Fixtures.modelDirectory(name), towers: .text, precision: precision)
            var text = try #require(model.text)
            let tokenizer = try #require(model.tokenizer)
            let tokens = try Self.prompts().map { tokenizer.tokenize($0) }
            text.maxRows = 4096
            let large = try text.embed(tokenSequences: tokens)
            text.maxRows = 64
            let small = try text.embed(tokenSequences: tokens)
            #expect(large == small, "\(name) \(precision): features differ between chunks of 4,096 and 64 rows")
            // Order and company do not matter either: each prompt alone equals its row.
            let d = model.config.projectionDim
            for i in [0, 3, tokens.count - 1] {
                #expect(try text.embed(tokenSequences: [tokens[i]]) == Array(large[i * d ..< (i + 1) * d]), "\(name) \(precision): prompt \(i) alone")
            }
        }
    }
}
