import ArgumentParser
import Foundation
import Platform

/// A failure a user can act on: bad input, a missing file, an unwritable output.
///
/// Commands throw it with a message that names the file, field or sample at fault; the
/// entry point prints `error: <message>` and exits with status 2, the convention for
/// invalid input.
public struct CommandFailure: Error, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Runs `body`, turning any error other than ArgumentParser's own into a `CommandFailure`
/// with context, so every command reports errors the same way.
func failing<T>(_ context: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let failure as CommandFailure {
        throw failure
    } catch {
        throw CommandFailure("\(context): \(error)")
    }
}

/// Standard error, unbuffered, for warnings and progress that must not mix with data on stdout.
/// Everything written goes through `TerminalText`: notes and warnings quote paths, names and
/// replies from outside, whose control characters must not reach the terminal (line breaks and
/// tabs of adaneg's own multi-line messages are kept).
enum StandardError {
    static func write(_ text: String) {
        raw(TerminalText.escaped(text, keepingLineBreaks: true))
    }

    /// A progress line redrawn in place on a terminal (carriage return, erase the line): the
    /// only control characters adaneg itself sends there.
    static func redraw(_ line: String) {
        raw("\r\u{1B}[K" + TerminalText.escaped(line))
    }

    private static func raw(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func warn(_ text: String) {
        write("warning: \(text)\n")
    }
}

extension AdaNegCommand {
    /// The exit status of an error no command anticipated (a bug to report).
    static let internalErrorStatus: Int32 = 70

    /// The process entry point: parses, runs, and maps failures to exit status 2.
    public static func run(arguments: [String]? = nil) async -> Never {
        TerminalSafeLogHandler.bootstrap()
        do {
            var command = try parseAsRoot(CommandLineArguments.normalised(arguments ?? Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch let failure as CommandFailure {
            // Messages quote paths, names and replies from outside: escaped, line breaks kept.
            StandardError.write("error: \(TerminalText.escaped(failure.message, keepingLineBreaks: true))\n")
            Foundation.exit(2)
        } catch let failure as JobFailure {
            // A job that ran to its end with failures (units failed): 1, not 2.
            StandardError.write("error: \(TerminalText.escaped(failure.message, keepingLineBreaks: true))\n")
            Foundation.exit(JobFailure.exitStatus)
        } catch where ArgumentRefusal.isBadValue(error) {
            // A flag's value refused (malformed, not a choice, out of range): bad input, 2,
            // with ArgumentParser's message, which names the flag.
            StandardError.write(TerminalText.escaped(ArgumentRefusal.message(fullMessage(for: error)), keepingLineBreaks: true) + "\n")
            Foundation.exit(2)
        } catch {
            // ArgumentParser's own messages quote the arguments: escaped too (help and
            // `--version`, which exit 0, are printed as they are).
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            StandardError.write(TerminalText.escaped(fullMessage(for: error), keepingLineBreaks: true) + "\n")
            // ArgumentParser gives any error it does not know status 1, which adaneg keeps for
            // "the job finished with failures": an error nothing anticipated is an internal
            // one (sysexits' EX_SOFTWARE), so scripts can tell the two apart.
            Foundation.exit(code == .failure ? Self.internalErrorStatus : code.rawValue)
        }
    }
}

/// Runs an operation with a hard time limit: the one-shot commands must answer within
/// seconds even when the other side accepted a connection and then went silent.
enum Deadline {
    struct Expired: Error {}

    static func run<T: Sendable>(seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                throw Expired()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw Expired() }
            return first
        }
    }
}

/// Which of ArgumentParser's refusals are bad input. A value given for a flag that is not one
/// (a malformed number, an unknown choice) or that a command's `validate()` refuses with a
/// `CommandFailure` (a range, an unknown format) is bad input and exits 2, like every other
/// refusal of input; a command line malformed as such (an unknown flag, a missing argument or
/// value, an extra argument, a `ValidationError` for flags missing or excluding each other)
/// stays a usage error, 64. ArgumentParser reports both
/// as one error type it keeps internal, so its case is read by name (the version is pinned in
/// Package.resolved; `BadFlagValueCLITests` fails if the names change).
enum ArgumentRefusal {
    static func isBadValue(_ error: any Error) -> Bool { refused(error) }

    /// Whether `value` (an error, or the parser error inside one) is a refused value; a
    /// validation error may arrive wrapped twice (an option group's `validate()`).
    private static func refused(_ value: Any) -> Bool {
        if value is CommandFailure { return true }
        let mirror = Mirror(reflecting: value)
        if let inner = mirror.children.first(where: { $0.label == "parserError" })?.value { return refused(inner) }
        guard mirror.displayStyle == .enum, let refusal = mirror.children.first else { return false }
        switch refusal.label {
        case "unableToParseValue": return true
        // `validate()` throws `CommandFailure` for a refused value; a `ValidationError` there is
        // a missing or conflicting flag: usage.
        case "userValidationError": return refused(refusal.value)
        default: return false
        }
    }

    /// ArgumentParser's text ("Error: …", usage lines) in adaneg's form: "error: …".
    static func message(_ text: String) -> String {
        text.hasPrefix("Error: ") ? "error: " + text.dropFirst("Error: ".count) : "error: " + text
    }
}
