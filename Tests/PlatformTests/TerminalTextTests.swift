import Testing
@testable import Platform

/// Issue 22, item 12: the one escaping function every printer uses, and the one plural helper.
@Suite("Terminal text and plurals")
struct TerminalTextTests {
    @Test("ESC, BEL, newline, CR, DEL, C1 and bidi overrides are written as \\u{hex}; plain text is kept")
    func escapesControls() {
        #expect(TerminalText.escaped("w\u{1b}]0;owned\u{7}\n") == #"w\u{1b}]0;owned\u{7}\u{a}"#)
        #expect(TerminalText.escaped("a\rb\u{7f}c\u{9b}d\u{202e}e") == #"a\u{d}b\u{7f}c\u{9b}d\u{202e}e"#)
        #expect(TerminalText.escaped("node-7.cluster:1 ünïcode ok") == "node-7.cluster:1 ünïcode ok")
        #expect(TerminalText.escaped("") == "")
    }

    @Test("line breaks are kept only when asked (whole messages), never inside values")
    func lineBreaks() {
        #expect(TerminalText.escaped("line 1\n\tline 2\u{1b}[2J", keepingLineBreaks: true) == "line 1\n\tline 2\\u{1b}[2J")
        #expect(TerminalText.escaped("a\nb") == #"a\u{a}b"#)
    }

    @Test("the length limit summarises the rest")
    func limit() {
        #expect(TerminalText.escaped(String(repeating: "x", count: 10), limit: 4) == "xxxx…(6 more)")
        #expect(TerminalText.escaped("abc", limit: 3) == "abc")
        #expect(TerminalText.hasControlCharacters("a\u{1b}") && !TerminalText.hasControlCharacters("abc"))
    }

    @Test("counts take the singular for one and the plural otherwise")
    func plurals() {
        #expect(Plural.count(1, "task") == "1 task")
        #expect(Plural.count(0, "task") == "0 tasks")
        #expect(Plural.count(3, "entry", "entries") == "3 entries")
        #expect(Plural.count(Int64(1), "unit") == "1 unit")
        #expect(Plural.noun(2, "sample") == "samples")
    }
}
