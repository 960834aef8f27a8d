import Foundation
import Logging
import Platform

/// The log lines of every adaneg process (`serve`, `worker`, `run`'s coordinator): swift-log's
/// standard-error handler, with the message and every metadata value escaped by `TerminalText`
/// first. Log lines quote what clients and files sent (worker ids, error messages, paths); an
/// escape sequence or a newline in them must neither reach the operator's terminal nor forge
/// a line of the log.
struct TerminalSafeLogHandler: LogHandler {
    var inner: StreamLogHandler

    init(label: String) { inner = StreamLogHandler.standardError(label: label) }

    /// Writing to `stream` instead (tests read what would reach the terminal).
    init(label: String, stream: any TextOutputStream & Sendable) { inner = StreamLogHandler(label: label, stream: stream) }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: TerminalText.escaped(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.escaped)
        inner.log(event: event)
    }

    static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case let .string(text): .string(TerminalText.escaped(text))
        case let .stringConvertible(value): .string(TerminalText.escaped(value.description))
        case let .dictionary(values): .dictionary(values.mapValues(escaped))
        case let .array(values): .array(values.map(escaped))
        }
    }

    /// Installs the handler for the whole process; call once, first thing.
    static func bootstrap() {
        LoggingSystem.bootstrap { label in TerminalSafeLogHandler(label: label) }
    }
}

/// Command-line arguments as ArgumentParser should see them.
enum CommandLineArguments {
    /// `--option -1` becomes `--option=-1`. ArgumentParser takes `-1` for a short flag and
    /// says "Missing value for '--seconds <seconds>'", which hides the real problem (the number
    /// is out of range); joined, the value reaches the option and its range check names it.
    static func normalised(_ arguments: [String]) -> [String] {
        var out = [String]()
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--" { out += arguments[i...]; break }
            if a.hasPrefix("--"), !a.contains("="), a.count > 2, i + 1 < arguments.count, isNegativeNumber(arguments[i + 1]) {
                out.append(a + "=" + arguments[i + 1])
                i += 2
                continue
            }
            out.append(a)
            i += 1
        }
        return out
    }

    /// "-1", "-0.5", "-1e3", "-inf", "-nan": a number, not a flag.
    static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text.count > 1 else { return false }
        let rest = text.dropFirst()
        if ["inf", "infinity", "nan"].contains(rest.lowercased()) { return true }
        guard let first = rest.first, first.isNumber || first == "." else { return false }
        return Double(text) != nil
    }
}
