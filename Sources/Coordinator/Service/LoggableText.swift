import Platform

extension String {
    /// Text that came in a request (worker ids, error messages), fit for a log line: control
    /// characters are escaped (`TerminalText`, the one escaping every printer uses) and the
    /// length is capped, so a client can neither forge log lines nor send escape sequences to
    /// the operator's terminal nor flood the log.
    var loggable: String { TerminalText.escaped(self, limit: 500) }
}
