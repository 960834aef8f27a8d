import AdaNeg
@testable import AdaNegCLI
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
import Platform
import Logging
import Testing

/// Issue 22 items 11 and 12 and its messages, on the command line: one range for every
/// `--workers`, local workers that die with their parent, names from outside printed escaped,
/// and the messages the probe found unclear.
@Suite("Worker counts, orphans, terminal escapes and messages, command line", .serialized)
struct TerminalAndLimitsCLITests {
    let jobs = HostileInputCLITests()

    @Test("--workers 0, -1 and 5000 are refused by run, demo and rescore with one message (exit 2)",
          arguments: ["0", "-1", "5000"])
    func workerCounts(count: String) throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        for arguments in [["run", job, "--db", s.path("db.sqlite")], ["demo", "--dir", s.path("demo")], ["rescore", "--db", s.path("db.sqlite"), "hostile"]] {
            let r = try CLI.run(arguments + ["--workers", count])
            #expect(r.status == 2, "\(arguments[0]): \(r.stderr)")
            #expect(r.stderr.contains("error: --workers must be in 1...1024 (got \(count))"), "\(arguments[0]): \(r.stderr)")
        }
        #expect(!s.exists("db.sqlite") && !s.exists("demo"), "a refused count started something")
    }

    @Test("kill -9 of run takes its local workers with it (they exit on their own, without the coordinator)")
    func orphanedWorkersExit() async throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let run = Process()
        run.executableURL = CLI.executable
        run.arguments = ["run", job, "--workers", "2", "--db", s.path("db.sqlite"), "--simulate-batch-ms", "500"]
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle.nullDevice
        try run.run()
        let parent = run.processIdentifier
        defer { if run.isRunning { kill(parent, SIGKILL) } }
        try await Wait.until(60, "run's two workers") { Self.workers(of: parent).count == 2 }
        let workers = Self.workers(of: parent)
        kill(parent, SIGKILL)
        run.waitUntilExit()
        // A generous bound: they look for their parent every quarter second.
        try await Wait.until(30, "the orphaned workers to exit") { workers.allSatisfy { !Self.alive($0) } }
    }

    /// The worker processes whose command line names `parent` as `--parent-pid`.
    static func workers(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let i = words.firstIndex(of: "--parent-pid"), i + 1 < words.count else { return false }
            return words.contains("worker") && words[i + 1] == "\(parent)"
        }
    }

    /// Running (a zombie, already exited, counts as gone).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    /// A database holding what an older coordinator let in: worker ids and host names with
    /// escape sequences and newlines, and a failure message with them.
    static let evilWorker = "evil\u{1b}]0;owned\u{7}\nforged line"
    static let evilHost = "host\u{1b}[2J"
    static let evilError = "boom\u{1b}[31m\nforged error"

    func hostileDatabase(_ s: Scratch) async throws -> String {
        let job = try jobs.writeJob(s)
        let db = s.path("old.sqlite")
        let coordinator = try Coordinator(databasePath: db, configuration: .init(maxAttempts: 1))
        _ = try await coordinator.submit(try JobSpecLoader.load(path: job))
        let first = try #require(try await coordinator.lease(worker: Self.evilWorker, host: Self.evilHost).grant)
        _ = try await coordinator.fail(unit: first.unit, worker: Self.evilWorker, error: Self.evilError)
        _ = try #require(try await coordinator.lease(worker: Self.evilWorker, host: Self.evilHost).grant)
        return db
    }

    func expectEscaped(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!text.contains("\u{1b}") && !text.contains("\u{7}"), "\(what) printed raw control characters: \(text.debugDescription)", sourceLocation: sourceLocation)
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("forged") }, "\(what) let a name forge a line: \(text)", sourceLocation: sourceLocation)
        #expect(text.contains(#"evil\u{1b}]0;owned\u{7}\u{a}forged line"#) || text.contains(#"boom\u{1b}[31m\u{a}forged error"#),
                "\(what) lost the name: \(text)", sourceLocation: sourceLocation)
    }

    @Test("status --db, status --coordinator and report print stored hostile names escaped")
    func storedNamesPrintEscaped() async throws {
        let s = try Scratch()
        let db = try await hostileDatabase(s)
        let status = try CLI.run(["status", "--db", db, "hostile"])
        #expect(status.status == 0, "\(status.stderr)")
        expectEscaped(status.stdout, "status --db")
        #expect(status.stdout.contains(#"on host\u{1b}[2J"#), "\(status.stdout)")
        #expect(status.stdout.contains(#"boom\u{1b}[31m\u{a}forged error"#), "\(status.stdout)")
        for format in ["md", "table", "csv"] {
            let report = try CLI.run(["report", "--db", db, "hostile", "--format", format])
            #expect(!report.stdout.contains("\u{1b}") && !report.stdout.contains("\u{7}"), "report --format \(format): \(report.stdout.debugDescription)")
            #expect(!report.stdout.split(separator: "\n").contains { $0.hasPrefix("forged") }, "report --format \(format): \(report.stdout)")
        }
        let server = try await ServerProcess(db: db)
        defer { server.stop() }
        let remote = try CLI.run(["status", "--coordinator", server.url.absoluteString, "hostile"])
        #expect(remote.status == 0, "\(remote.stderr)")
        expectEscaped(remote.stdout, "status --coordinator")
    }

    @Test("a job or path with control characters in an error message is printed escaped")
    func errorMessagesEscaped() throws {
        let r = try CLI.run(["status", "--db", "/nonexistent/\u{1b}[2Jx.sqlite", "job"])
        #expect(r.status == 2)
        #expect(!r.stderr.contains("\u{1b}") && r.stderr.contains(#"\u{1b}[2Jx.sqlite"#), "\(r.stderr.debugDescription)")
    }

    @Test("worker --id with an escape, a newline, a space or nothing is refused (exit 2) before any request")
    func workerIDChecked() throws {
        for id in ["w\u{1b}[2J", "w\nx", "w x", "", String(repeating: "w", count: 300)] {
            let r = try CLI.run(["worker", "--coordinator", "http://127.0.0.1:9", "--id", id, "--patience", "1"])
            #expect(r.status == 2, "\(id.debugDescription): \(r.stderr)")
            #expect(r.stderr.contains("error: --id "), "\(r.stderr)")
            #expect(!r.stderr.contains("\u{1b}"))
        }
    }

    @Test("a negative number is a range error naming the flag, never 'Missing value'",
          arguments: [
            (["doctor", "--seconds", "-1"], "--seconds must be a number of seconds in 0...10 (got -1.0)"),
            (["doctor", "--threads", "-2"], "--threads must be in 1...4096 (got -2)"),
            (["worker", "--coordinator", "http://127.0.0.1:9", "--threads", "-1"], "--threads must be in 0...1024 (got -1)"),
            (["worker", "--coordinator", "http://127.0.0.1:9", "--patience", "-5"], "--patience must be a number of seconds ≥ 0 (got -5.0)"),
            (["status", "--db", "x.sqlite", "job", "--watch", "-1"], "--watch must be a number of seconds in 0.5...3600.0 (got -1.0)"),
            (["embed-text", "--model", "m", "--texts", "t.txt", "--out", "o.npy", "--threads", "-4"], "--threads must be in 1...4096 (got -4)"),
            (["embed-images", "--model", "m", "--images", "i.txt", "--out", "o.npy", "--crop", "-224"], "--crop must be positive (got -224)"),
          ])
    func negativeNumbers(arguments: [String], message: String) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("error: " + message), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(r.stderr)")
    }

    @Test("a coordinator URL with a path, query or fragment is refused naming the flag, for every command that takes one")
    func coordinatorURLWithPath() throws {
        for command in [["status", "job"], ["report", "job"], ["submit", "job.yaml"], ["worker"]] {
            let r = try CLI.run(command + ["--coordinator", "http://127.0.0.1:9/some/path"])
            #expect(r.status == 2, "\(command[0]): \(r.stderr)")
            #expect(r.stderr.contains("--coordinator 'http://127.0.0.1:9/some/path' has a path (/some/path)") && r.stderr.contains("e.g. http://127.0.0.1:9"), "\(command[0]): \(r.stderr)")
        }
        let query = try CLI.run(["status", "job", "--coordinator", "http://127.0.0.1:9/?x=1"])
        #expect(query.status == 2 && query.stderr.contains("has a query or fragment"), "\(query.stderr)")
    }

    @Test("adaneg --version prints the version")
    func version() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "adaneg \(AdaNegCommand.version)")
    }

    @Test("status --watch on a finished job prints it once and returns; status shows elapsed time and only this job's workers")
    func statusWatchAndWorkers() throws {
        let s = try Scratch()
        let first = try jobs.writeJob(s, name: "first")
        #expect(try CLI.run(["run", first, "--workers", "1", "--db", s.path("db.sqlite")]).status == 0)
        let r = try CLI.run(["status", "--db", s.path("db.sqlite"), "first", "--watch", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("finished") && r.stdout.contains("elapsed ") && r.stdout.contains("from submission to the last unit"), "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "job first:").count == 2, "drawn more than once: \(r.stdout)")
        // A second job on the same database with its own worker: each status names only its own.
        let second = try jobs.writeJob(s, name: "second")
        #expect(try CLI.run(["run", second, "--workers", "2", "--db", s.path("db.sqlite")]).status == 0)
        let one = try CLI.run(["status", "--db", s.path("db.sqlite"), "first"])
        let two = try CLI.run(["status", "--db", s.path("db.sqlite"), "second"])
        func workers(_ text: String) -> Set<String> {
            Set(text.split(separator: "\n").filter { $0.hasPrefix("  worker ") }.map { String($0.dropFirst(9).prefix { $0 != " " }) })
        }
        #expect(workers(one.stdout).count == 1, "\(one.stdout)")
        #expect(!workers(two.stdout).isEmpty && workers(one.stdout).isDisjoint(with: workers(two.stdout)), "\(one.stdout)\n\(two.stdout)")
    }

    @Test("rescore of an image job run with keep_features: false says its images are embedded again, and does so")
    func rescoreWithoutKeptFeatures() throws {
        let s = try Scratch()
        try ImageRunTests.writeDroppedFeaturesJob(in: s)
        let run = try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", s.path("db.sqlite")])
        #expect(run.status == 0, "\(run.stderr)")
        let rescore = try CLI.run(["rescore", "--db", s.path("db.sqlite"), "pictures", "--proxy", "sample", "--workers", "1"])
        #expect(rescore.status == 0, "\(rescore.stderr)")
        #expect(rescore.stderr.contains("note: job 'pictures' ran with keep_features: false, so its image features were dropped: its images are embedded again"), "\(rescore.stderr)")
        let embedded = rescore.stderr.components(separatedBy: " images embedded").first?.split(separator: "(").last.flatMap { Int($0) }
        #expect((embedded ?? 0) > 0, "\(rescore.stderr)")
    }

    @Test("a user's OPENBLAS_CORETYPE warning: never on --help, once (not once per worker) on run")
    func blasWarningOnce() throws {
        guard BLASKernelPolicy.bestCore(for: .current) != nil else { return }
        let env: [String: String?] = [BLASKernelPolicy.coreTypeVariable: "Prescott", BLASKernelPolicy.markerVariable: nil, "ADANEG_BLAS_ASSUME_LOADED_CORE": nil]
        for help in [["run", "--help"], ["worker", "--help"], ["help", "run"], ["demo", "-h"]] {
            let r = try CLI.run(help, environment: env)
            #expect(r.status == 0 && !r.stderr.contains("warning:") && !r.stderr.contains("note:"), "\(help): \(r.stderr)")
        }
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let r = try CLI.run(["run", job, "--workers", "2", "--db", s.path("db.sqlite")], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "warning: OPENBLAS_CORETYPE=Prescott").count == 2, "\(r.stderr)")
    }
}

/// What the log handler of every adaneg process writes, captured.
final class CapturedLog: TextOutputStream, @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func write(_ string: String) { lock.withLock { text += string } }
    var written: String { lock.withLock { text } }
}

/// A `TextOutputStream` value that appends to a shared `CapturedLog`.
struct CapturingStream: TextOutputStream, Sendable {
    let log: CapturedLog
    mutating func write(_ string: String) { log.write(string) }
}

@Suite("Log lines")
struct TerminalSafeLogTests {
    @Test("log messages and metadata are escaped: one line per entry, no escape sequence reaches the terminal")
    func escapesLogLines() {
        let captured = CapturedLog()
        var handler = TerminalSafeLogHandler(label: "test", stream: CapturingStream(log: captured))
        handler.logLevel = .info
        let logger = Logger(label: "test") { _ in handler }
        logger.warning("unit 3: \("w\u{1b}[2J\nforged")", metadata: ["worker": "x\u{7}y", "nested": ["a": "b\u{1b}"], "list": ["c\rd"]])
        let text = captured.written
        #expect(!text.contains("\u{1b}") && !text.contains("\u{7}") && !text.contains("\r"), "\(text.debugDescription)")
        #expect(text.split(separator: "\n").count == 1, "\(text)")
        #expect(text.contains(#"unit 3: w\u{1b}[2J\u{a}forged"#) && text.contains(#"x\u{7}y"#), "\(text)")
    }
}
