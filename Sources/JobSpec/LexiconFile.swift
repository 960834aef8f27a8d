import Foundation
import Platform

/// A user's candidate list for NegMining, the one reader of it (the spec's checks and the
/// miner): one `word<TAB>noun` or `word<TAB>adj` per line; blank lines and `#` comments are
/// skipped, surrounding blanks trimmed, repeats of the same word and part of speech dropped.
public struct LexiconFile: Sendable, Equatable {
    public var nouns: [String]
    public var adjectives: [String]

    /// Malformed lines listed individually before the rest are summed up.
    static let listedProblems = 10

    /// Reads `path`; malformed lines are problems with their line numbers, under `key`.
    public static func read(_ path: String, key: String = "negatives.lexicon") throws(JobSpecError) -> LexiconFile {
        let data: Data
        do {
            data = try RegularFile.read(path)
        } catch {
            throw JobSpecError(file: path, problems: [JobSpecProblem(path: key, message: "cannot read lexicon: \(error)")])
        }
        var problems = [JobSpecProblem]()
        var bad = 0
        var lexicon = LexiconFile(nouns: [], adjectives: [])
        var seen = Set<String>()
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, parts[1] == "noun" || parts[1] == "adj" else {
                bad += 1
                if bad <= listedProblems {
                    problems.append(JobSpecProblem(path: key, line: i + 1,
                                                   message: "malformed line '\(line.prefix(80))': expected 'word<TAB>noun' or 'word<TAB>adj'", file: path))
                }
                continue
            }
            guard seen.insert(parts[1] + ":" + parts[0]).inserted else { continue }
            if parts[1] == "noun" { lexicon.nouns.append(parts[0]) } else { lexicon.adjectives.append(parts[0]) }
        }
        if bad > listedProblems {
            problems.append(JobSpecProblem(path: key, message: "\(bad - listedProblems) more malformed lines (\(bad) in all)", file: path))
        }
        if bad == 0 && lexicon.nouns.isEmpty && lexicon.adjectives.isEmpty {
            problems.append(JobSpecProblem(path: key, message: "lexicon \(path) has no words"))
        }
        guard problems.isEmpty else { throw JobSpecError(file: path, problems: problems) }
        return lexicon
    }
}
