import Foundation

/// Candidate negative labels from WordNet 3.0 (docs/algorithm.md, "Labels and negatives"): the first lemma of
/// every synset, `_` as a space, de-duplicated in file order; nouns from every lexicographer
/// file except `noun.animal` (05) and `noun.food` (13), adjectives from all adjective synsets
/// (satellites included, syntactic markers such as `(ip)` removed).
public struct WordNetCandidates: Sendable, Equatable {
    public var nouns: [String]
    public var adjectives: [String]
    /// Synsets read before de-duplication, for the command's report.
    public var nounSynsets: Int
    public var adjectiveSynsets: Int

    /// Debian's `wordnet-base` location.
    public static let defaultDirectory = "/usr/share/wordnet"

    /// Lexicographer files left out of the noun candidates.
    static let excludedNounFiles: Set<Int> = [5, 13] // noun.animal, noun.food

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case missing(path: String)
        case malformed(path: String, line: Int, reason: String)

        public var description: String {
            switch self {
            case let .missing(path):
                "\(path) not found: install WordNet 3.0 with `apt-get install wordnet-base` (or pass --lexicon FILE)"
            case let .malformed(path, line, reason):
                "\(path):\(line): \(reason)"
            }
        }
    }

    public init(nouns: [String], adjectives: [String], nounSynsets: Int, adjectiveSynsets: Int) {
        self.nouns = nouns
        self.adjectives = adjectives
        self.nounSynsets = nounSynsets
        self.adjectiveSynsets = adjectiveSynsets
    }

    public static func load(directory: String = defaultDirectory) throws(Problem) -> WordNetCandidates {
        let nouns = try read("\(directory)/data.noun") { $0 >= 0 && !excludedNounFiles.contains($0) }
        let adjectives = try read("\(directory)/data.adj") { _ in true }
        return WordNetCandidates(nouns: unique(nouns.lemmas), adjectives: unique(adjectives.lemmas),
                                 nounSynsets: nouns.lemmas.count, adjectiveSynsets: adjectives.lemmas.count)
    }

    /// First lemmas of the synsets whose lexicographer file passes `keep`.
    static func read(_ path: String, keep: (Int) -> Bool) throws(Problem) -> (lemmas: [String], lines: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missing(path: path) }
        var lemmas = [String]()
        var number = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            guard let first = line.first, first.isNumber else { continue } // license header lines start with spaces
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, let lexFile = Int(fields[1]) else {
                throw .malformed(path: path, line: number, reason: "not a WordNet data line")
            }
            guard keep(lexFile) else { continue }
            lemmas.append(clean(fields[4]))
        }
        return (lemmas, number)
    }

    /// `galore(ip)` → `galore`, `living_thing` → `living thing`.
    static func clean(_ lemma: Substring) -> String {
        var word = lemma
        if word.hasSuffix(")"), let open = word.lastIndex(of: "(") { word = word[..<open] }
        return word.replacingOccurrences(of: "_", with: " ")
    }

    static func unique(_ words: [String]) -> [String] {
        var seen = Set<String>()
        return words.filter { seen.insert($0).inserted }
    }
}

/// A candidate's part of speech, which decides its prompt and its share of the selection.
public enum PartOfSpeech: String, Sendable, Codable, CaseIterable {
    case noun, adj

    /// The prompt each part of speech is embedded with (docs/algorithm.md, "Labels and negatives").
    public func prompt(_ word: String) -> String {
        switch self {
        case .noun: "The nice \(word)."
        case .adj: "This is a \(word) photo."
        }
    }
}
