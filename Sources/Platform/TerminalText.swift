/// Text that came from outside adaneg (worker ids, host names, paths, job and set names,
/// error messages that quote a request or a file) made safe to print on a terminal or in a
/// log: the one escaping function every printer uses.
///
/// Why: a worker id such as `"w\u{1b}]0;owned\u{7}"` stored by a hostile client, or a file name
/// with an embedded newline, would otherwise move the cursor, retitle the window, clear the
/// screen or forge lines when `status`, `report` or a log prints it. Control characters (C0,
/// DEL, C1), Unicode format characters (bidirectional overrides among them) and line or
/// paragraph separators are written as `\u{hex}`, so the text stays readable and nothing is
/// lost or interpreted.
public enum TerminalText {
    /// `text` with every control character escaped as `\u{hex}`.
    /// - Parameters:
    ///   - keepingLineBreaks: keep `\n` and `\t` as they are, for whole messages adaneg composed
    ///     itself over several lines (the parts quoted from outside were escaped already, or are
    ///     escaped here too but for their line breaks). Values (ids, names) never keep them.
    ///   - limit: at most this many characters are kept; the rest is summarised as
    ///     `…(N more)`, so one value cannot flood a screen or a log.
    public static func escaped(_ text: String, keepingLineBreaks: Bool = false, limit: Int? = nil) -> String {
        var out = ""
        var kept = 0
        let scalars = text.unicodeScalars
        for scalar in scalars {
            if let limit, kept == limit {
                out += "…(\(scalars.count - limit) more)"
                break
            }
            kept += 1
            if needsEscape(scalar) && !(keepingLineBreaks && (scalar == "\n" || scalar == "\t")) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Whether a scalar would be interpreted by a terminal (or hide text) rather than shown.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    /// Whether `text` has anything `escaped` would change (apart from the length limit).
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains(where: needsEscape)
    }
}
