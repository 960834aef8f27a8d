import Foundation

/// The text cleanup OpenAI CLIP's tokenizer applies before BPE:
/// `whitespace_clean(basic_clean(text)).lower()`, where `basic_clean` is `ftfy.fix_text`,
/// then `html.unescape` twice, then `strip()`.
///
/// Of ftfy, the fixes that act on ordinary prompts are reproduced exactly: HTML entity decoding
/// (only in lines without `<`), C1 controls read as Windows-1252, Latin ligatures, half- and
/// full-width forms, curly quotes, line breaks, terminal escapes, control characters and NFC.
/// Mojibake repair (`fix_encoding`: text decoded in the wrong codec, such as `Ã©` for `é`) is
/// not reproduced; such text is tokenized as it stands.
///
/// All work is on Unicode scalars, as Python strings are sequences of code points.
public enum TextCleaner {
    public typealias Scalars = [Unicode.Scalar]

    // MARK: Pipeline

    /// The full cleanup: ftfy, double HTML unescape, whitespace folding, lower-casing.
    public static func clean(_ text: String) -> Scalars {
        var s = fixText(Array(text.unicodeScalars))
        s = htmlUnescape(htmlUnescape(s))
        s = foldWhitespace(s)
        return lowercased(s)
    }

    // MARK: ftfy.fix_text

    /// `ftfy.fix_text` without mojibake repair: line by line, each line fixed until stable.
    public static func fixText(_ text: Scalars) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(text.count)
        var unescape = true // ftfy's unescape_html="auto" switches off for good at the first line with '<'
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count, text[end] != "\n" { end += 1 }
            if end < text.count { end += 1 } // keep the '\n' with its line
            let segment = Array(text[start..<end])
            if unescape, segment.contains("<") { unescape = false }
            out += fixSegment(segment, unescapeHTML: unescape)
            start = end
        }
        return out
    }

    static func fixSegment(_ text: Scalars, unescapeHTML: Bool) -> Scalars {
        var s = text
        while true {
            let original = s
            if unescapeHTML { s = ftfyUnescape(s) }
            s = replaceCharacters(s)
            s = fixLineBreaks(s)
            s = removeTerminalEscapes(s)
            s.removeAll { Tables.control.contains($0.value) }
            s = nfc(s)
            if s == original { return s }
        }
    }

    /// ftfy's per-character fixes, in its order: C1 controls read as Windows-1252, then Latin
    /// ligatures expanded, then half- and full-width forms, then curly quotes. Each is a map from
    /// one character to a sequence, so they compose character by character into one pass that
    /// allocates nothing per character (a pass per fix, with an array per character, made the
    /// cleanup the tokenizer's cost). Text below the first mapped code point passes unchanged.
    static func replaceCharacters(_ s: Scalars) -> Scalars {
        guard s.contains(where: { $0.value >= Tables.firstMapped }) else { return s }
        var out: Scalars = []
        out.reserveCapacity(s.count)
        func appendWidthFixed(_ c: Unicode.Scalar) {
            if let wide = Tables.width[c.value] {
                for w in wide { out.append(uncurl(w)) }
            } else {
                out.append(uncurl(c))
            }
        }
        for c in s {
            let c1 = Tables.c1[c.value] ?? c
            if let ligature = Tables.ligatures[c1.value] {
                for l in ligature { appendWidthFixed(l) }
            } else {
                appendWidthFixed(c1)
            }
        }
        return out
    }

    static func uncurl(_ c: Unicode.Scalar) -> Unicode.Scalar {
        switch c.value {
        case 0x02BC, 0x2018...0x201B: "'"
        case 0x201C...0x201F: "\""
        default: c
        }
    }

    static func fixLineBreaks(_ s: Scalars) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            switch s[i].value {
            case 0x0D:
                out.append("\n")
                if i + 1 < s.count, s[i + 1] == "\n" { i += 1 }
            case 0x2028, 0x2029, 0x85:
                out.append("\n")
            default:
                out.append(s[i])
            }
            i += 1
        }
        return out
    }

    /// Removes `ESC [ (digits|;)* letter`.
    static func removeTerminalEscapes(_ s: Scalars) -> Scalars {
        guard s.contains("\u{1B}") else { return s }
        var out: Scalars = []
        var i = 0
        while i < s.count {
            if s[i] == "\u{1B}", i + 1 < s.count, s[i + 1] == "[" {
                var j = i + 2
                while j < s.count, (s[j].value >= 0x30 && s[j].value <= 0x39) || s[j] == ";" { j += 1 }
                if j < s.count, isASCIILetter(s[j]) {
                    i = j + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    static func nfc(_ s: Scalars) -> Scalars {
        // ASCII is always NFC; skip the Foundation round trip for it.
        // Below U+0300 every character is stable under NFC and nothing composes with it.
        if s.allSatisfy({ $0.value < 0x300 }) { return s }
        var string = ""
        string.unicodeScalars.append(contentsOf: s)
        return Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` replaced when it is a known entity
    /// (including ftfy's upper-case Latin ones) or a numeric reference that decodes fully.
    static func ftfyUnescape(_ s: Scalars) -> Scalars {
        guard s.contains("&") else { return s }
        var out: Scalars = []
        var i = 0
        while i < s.count {
            if s[i] == "&" {
                var j = i + 1
                if j < s.count, s[j] == "#" { j += 1 }
                let bodyStart = j
                while j < s.count, j - bodyStart < 24, isASCIIAlnum(s[j]) { j += 1 }
                if j > bodyStart, j < s.count, s[j] == ";" {
                    let match = Array(s[i...j])
                    let name = String(String.UnicodeScalarView(match.dropFirst()))
                    if let value = Tables.ftfyEntities[name] {
                        out += value
                        i = j + 1
                        continue
                    }
                    if match.count > 1, match[1] == "#" {
                        let decoded = htmlUnescape(match)
                        if !decoded.contains(";") {
                            out += decoded
                            i = j + 1
                            continue
                        }
                    }
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    // MARK: html.unescape

    /// Python's `html.unescape`: named references (HTML5 table, longest prefix for the legacy
    /// names without `;`), decimal and hex references with the HTML5 replacement rules.
    public static func htmlUnescape(_ s: Scalars) -> Scalars {
        guard s.contains("&") else { return s }
        var out: Scalars = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard s[i] == "&", i + 1 < s.count else { out.append(s[i]); i += 1; continue }
            if s[i + 1] == "#" {
                // '#' digits ';'?  or  '#x' hexdigits ';'?
                var j = i + 2
                var hex = false
                if j < s.count, s[j] == "x" || s[j] == "X" { hex = true; j += 1 }
                let digitsStart = j
                while j < s.count, hex ? isHexDigit(s[j]) : isDigit(s[j]) { j += 1 }
                if j > digitsStart {
                    let digits = String(String.UnicodeScalarView(s[digitsStart..<j]))
                    if j < s.count, s[j] == ";" { j += 1 }
                    out += numericReference(digits, hex: hex)
                    i = j
                    continue
                }
                out.append(s[i])
                i += 1
                continue
            }
            // [^\t\n\f <&#;]{1,32};?
            var j = i + 1
            while j < s.count, j - (i + 1) < 32, !"\t\n\u{0C} <&#;".unicodeScalars.contains(s[j]) { j += 1 }
            if j == i + 1 { out.append(s[i]); i += 1; continue }
            if j < s.count, s[j] == ";" { j += 1 }
            let name = Array(s[(i + 1)..<j])
            let key = String(String.UnicodeScalarView(name))
            if let value = Tables.html5[key] {
                out += value
            } else {
                var replaced = false
                if name.count > 2 {
                    for x in stride(from: name.count - 1, to: 1, by: -1) {
                        let prefix = String(String.UnicodeScalarView(name[0..<x]))
                        if let value = Tables.html5[prefix] {
                            out += value
                            out += name[x...]
                            replaced = true
                            break
                        }
                    }
                }
                if !replaced {
                    out.append("&")
                    out += name
                }
            }
            i = j
        }
        return out
    }

    static func numericReference(_ digits: String, hex: Bool) -> Scalars {
        // Python parses arbitrarily large numbers; anything past 0x10FFFF becomes U+FFFD.
        let trimmed = digits.drop { $0 == "0" }
        let value: UInt32
        if trimmed.count > 8 {
            value = 0x110000
        } else if let parsed = UInt32(trimmed.isEmpty ? "0" : String(trimmed), radix: hex ? 16 : 10) {
            value = parsed
        } else {
            value = 0x110000
        }
        if let replacement = Tables.invalidCharrefs[value] { return replacement }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return ["\u{FFFD}"] }
        if Tables.invalidCodepoints.contains(value) { return [] }
        return Unicode.Scalar(value).map { [$0] } ?? ["\u{FFFD}"]
    }

    // MARK: Whitespace and case

    /// Python's `str.isspace()`.
    public static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// `" ".join(text.split()).strip()`.
    public static func foldWhitespace(_ s: Scalars) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(s.count)
        var pendingSpace = false
        for c in s {
            if isPythonSpace(c) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(c)
            }
        }
        return out
    }

    /// Python's `str.lower()`: full Unicode lower-case mapping, with the final-sigma rule.
    public static func lowercased(_ s: Scalars) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(s.count)
        for (i, c) in s.enumerated() {
            if c.value < 0x80 {
                out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(UInt8(c.value + 32)) : c)
            } else if c.value == 0x03A3 {
                out.append(isFinalSigma(s, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// Unicode's Final_Sigma condition, as CPython applies it.
    static func isFinalSigma(_ s: Scalars, at i: Int) -> Bool {
        var j = i - 1
        while j >= 0, s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, s[j].properties.isCased else { return false }
        j = i + 1
        while j < s.count, s[j].properties.isCaseIgnorable { j += 1 }
        return j == s.count || !s[j].properties.isCased
    }

    // MARK: Character classes

    static func isASCIILetter(_ c: Unicode.Scalar) -> Bool { (c.value | 0x20) >= 0x61 && (c.value | 0x20) <= 0x7A }
    static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
    static func isHexDigit(_ c: Unicode.Scalar) -> Bool { isDigit(c) || ((c.value | 0x20) >= 0x61 && (c.value | 0x20) <= 0x66) }
    static func isASCIIAlnum(_ c: Unicode.Scalar) -> Bool { isDigit(c) || isASCIILetter(c) }

    // MARK: Tables

    /// The parsed contents of `TextCleanupTables`.
    enum Tables {
        static let html5: [String: Scalars] = parseMap(TextCleanupTables.html5)
        static let ftfyEntities: [String: Scalars] = parseMap(TextCleanupTables.ftfyEntities)
        static let ligatures: [UInt32: Scalars] = parseCodeMap(TextCleanupTables.ligatures)
        static let width: [UInt32: Scalars] = parseCodeMap(TextCleanupTables.width)
        static let c1: [UInt32: Unicode.Scalar] = parseCodeMap(TextCleanupTables.c1).compactMapValues(\.first)
        static let invalidCharrefs: [UInt32: Scalars] = parseCodeMap(TextCleanupTables.invalidCharrefs)
        static let invalidCodepoints: Set<UInt32> = Set(TextCleanupTables.invalidCodepoints.split(separator: " ").compactMap { UInt32($0, radix: 16) })
        /// The lowest code point that `replaceCharacters` changes (U+02BC is the lowest curly quote).
        static let firstMapped: UInt32 = ([0x02BC] + Array(c1.keys) + Array(ligatures.keys) + Array(width.keys)).min() ?? 0
        static let control: Set<UInt32> = Set(TextCleanupTables.controlChars.split(separator: " ").compactMap { UInt32($0, radix: 16) })

        static func scalars(_ hex: Substring) -> Scalars {
            hex.split(separator: " ").compactMap { UInt32($0, radix: 16).flatMap(Unicode.Scalar.init) }
        }

        static func parseMap(_ text: String) -> [String: Scalars] {
            var map: [String: Scalars] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1)
                if parts.count == 2 { map[String(parts[0])] = scalars(parts[1]) }
            }
            return map
        }

        static func parseCodeMap(_ text: String) -> [UInt32: Scalars] {
            var map: [UInt32: Scalars] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1)
                if parts.count == 2, let key = UInt32(parts[0], radix: 16) { map[key] = scalars(parts[1]) }
            }
            return map
        }
    }
}
