import Foundation

/// Cheap checks on a spec's text before YAML builds its node tree.
///
/// Why: Yams holds a whole document as nodes, at tens of bytes per byte of text. A request that
/// put 10 MB under an unknown top-level key cost the coordinator 570 MB to be told the key was
/// unknown. So the size is capped first (job specs are a few kilobytes; data belong in the files
/// a spec names), and the top-level keys are read off the text's unindented lines: an unknown
/// one is refused, with the same message the decoder gives, before any value is built.
/// A spec under `fullListingBytes` goes to the decoder whatever its keys, so that every
/// problem of an ordinary spec is still listed at once.
enum SpecPrescan {
    /// Below this size parsing costs little: the decoder lists unknown keys with every other
    /// problem. Above it, unknown top-level keys are refused before parsing.
    static let fullListingBytes = 64 << 10

    /// Problems found without parsing: the size, then (for a spec over `fullListingBytes`)
    /// unknown top-level keys; empty when the text may go on to the full decoder (which
    /// checks everything again).
    static func problems(_ yaml: String) -> [JobSpecProblem] {
        let bytes = yaml.utf8.count
        if bytes > JobSpecLoader.maxSpecBytes {
            return [JobSpecProblem(path: "", message: "the spec is \(bytes) bytes; at most \(JobSpecLoader.maxSpecBytes) bytes (1 MiB) are accepted (a job spec names its data files, it does not hold them)")]
        }
        guard bytes > fullListingBytes else { return [] }
        var out = [JobSpecProblem]()
        var lineNumber = 0
        for line in yaml.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard let key = topLevelKey(line), !JobSpecLoader.topLevelKeys.contains(key) else { continue }
            out.append(JobSpecProblem(path: key, line: lineNumber, message: unknownKeyMessage(key, known: JobSpecLoader.topLevelKeys)))
        }
        return out
    }

    /// The key of a line that starts a top-level `key: value` pair (a plain name at column 0
    /// followed by a colon and a blank or the end), else nil. Indented lines, comments,
    /// sequence items, quoted or complex keys and flow collections are left to the decoder.
    static func topLevelKey(_ line: Substring.UTF8View) -> String? {
        guard let first = line.first, isNameStart(first) else { return nil }
        var end = line.startIndex
        while end < line.endIndex, isNameByte(line[end]) { end = line.index(after: end) }
        guard end < line.endIndex, line[end] == UInt8(ascii: ":") else { return nil }
        let next = line.index(after: end)
        guard next == line.endIndex || [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r")].contains(line[next]) else { return nil }
        return String(decoding: line[line.startIndex..<end], as: UTF8.self)
    }

    static func isNameStart(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_")
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        isNameStart(b) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-")
    }
}

/// The one message for a key the format does not have, with the closest known key as a
/// suggestion (the decoder's and the prescan's).
func unknownKeyMessage(_ key: String, known: [String]) -> String {
    var message = "unknown key '\(key)'"
    if let guess = closest(to: key, in: known) { message += "; did you mean '\(guess)'?" }
    return message + " (known keys here: \(known.joined(separator: ", ")))"
}
