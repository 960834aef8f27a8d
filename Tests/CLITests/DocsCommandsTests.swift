import Foundation
import Testing

/// The `sh` blocks of README.md and jobs/README.md are meant to be copied and pasted. This
/// runs every `adaneg` command in them that needs no cluster and no CLIP model, in a copy of
/// `jobs/` and `data/`, on demo-sized data (the only edits: the sizes given to `synthesize`, and
/// the placeholders `JOB`, `X.npy`, `T.npy` filled in). A command added to a block must either
/// run here or be listed as skipped, with the reason.
@Suite("Commands in the docs", .serialized)
struct DocsCommandsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shell commands of a Markdown file's `sh` blocks, continuations joined, comments cut.
    static func commands(in file: String) throws -> [String] {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        var out = [String](), inBlock = false, pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock = line == "```sh" || line == "```bash"; continue }
            guard inBlock else { continue }
            var body = String(line)
            if let hash = body.range(of: "  #") ?? body.range(of: " # ") { body = String(body[..<hash.lowerBound]) }
            body = body.trimmingCharacters(in: .whitespaces)
            if body.hasSuffix("\\") { pending += body.dropLast() + " "; continue }
            let full = (pending + body).trimmingCharacters(in: .whitespaces)
            pending = ""
            if !full.isEmpty { out.append(full) }
        }
        return out
    }

    /// Why a command is not run here, or nil when it is.
    static func skipReason(_ command: String) -> String? {
        if command.contains("HOST") || command.hasPrefix("adaneg serve") || command.hasPrefix("adaneg worker") { return "needs a cluster" }
        if command.contains("--model DIR") { return "needs a CLIP model" }
        if command.contains("openai/") { return "needs the Hugging Face Hub (ModelHubTests cover these against a mock)" }
        if !command.hasPrefix("adaneg ") { return "a shell step of getting the OpenOOD data" }
        if command.contains("imagenet") { return "needs the ImageNet and OpenOOD images" }
        if command == "bash scripts/test.sh" { return "is the test suite itself" }
        if command == "bash scripts/demo.sh" { return "installs packages and builds; its last step, `adaneg demo`, runs here" }
        return nil
    }

    /// Demo-sized stand-ins for the documented sizes and placeholders.
    static func demoSized(_ command: String) -> String {
        command
            .replacingOccurrences(of: "--dim 512 --id-samples 10000 --ood-samples 5000", with: "--dim 16 --id-samples 300 --ood-samples 150")
            .replacingOccurrences(of: " JOB", with: " features-example")
            .replacingOccurrences(of: "X.npy", with: "stream/image.npy")
            .replacingOccurrences(of: "T.npy", with: "stream/text.npy")
            .replacingOccurrences(of: " labels.npy", with: " stream/labels.npy")
    }

    /// Splits a command line into arguments (the docs use no quotes with spaces inside).
    static func arguments(_ command: String) -> [String] {
        command.split(separator: " ").map { $0.replacingOccurrences(of: "\"", with: "") }
    }

    @Test("every command block of README.md and jobs/README.md that needs no cluster runs")
    func docsCommands() throws {
        let scratch = try Scratch()
        for folder in ["jobs", "data"] {
            try FileManager.default.copyItem(at: Self.root.appendingPathComponent(folder), to: scratch.url.appendingPathComponent(folder))
        }
        try? FileManager.default.removeItem(at: scratch.url.appendingPathComponent("jobs/features-example"))
        let commands = try Self.commands(in: "README.md") + Self.commands(in: "jobs/README.md")
        let skipped = commands.filter { Self.skipReason($0) != nil }
        // Every block's command is accounted for: these are the ones that need what a test lacks.
        #expect(skipped.count == 28, "skipped: \(skipped)")  // 28th: README's `sweep --coordinator http://HOST:7878` (needs a cluster)
        var runnable = commands.filter { Self.skipReason($0) == nil }
        #expect(runnable.count == 12, "\(runnable)")
        // `bash scripts/demo.sh` ends in `adaneg demo`: run that first, as the quick start does.
        runnable.insert("adaneg demo --workers 1", at: 0)
        // The score-features example's inputs: a synthetic stream with 10,000 negatives, so the
        // official permutation in data/ fits.
        let stream = try run(["synthesize", "--out", scratch.path("stream"), "--classes", "1000", "--negatives", "10000", "--dim", "16",
                              "--id-samples", "200", "--ood-samples", "200"], in: scratch)
        #expect(stream.status == 0, "\(stream.stderr)")
        for command in runnable {
            let line = Self.demoSized(command)
            var args = Self.arguments(line)
            #expect(args.first == "adaneg", "not an adaneg command: \(line)")
            args.removeFirst()
            let result = try run(args, in: scratch)
            #expect(result.status == 0, "`\(line)` exited with \(result.status): \(result.stderr.suffix(2000))")
        }
        #expect(scratch.exists("report.html") && scratch.exists("scores.csv") && scratch.exists("runs/x.sqlite") && scratch.exists("sweep.html"))
    }

    @Test("run on the example job before its data exist says how to create them")
    func missingExampleData() throws {
        let scratch = try Scratch()
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("jobs"), to: scratch.url.appendingPathComponent("jobs"))
        try? FileManager.default.removeItem(at: scratch.url.appendingPathComponent("jobs/features-example"))
        let r = try run(["run", "jobs/features-example.yaml"], in: scratch)
        #expect(r.status == 2)
        #expect(r.stderr.contains("features file not found"), "\(r.stderr)")
        #expect(r.stderr.contains("The spec's comments say how to create its data:\n  adaneg synthesize --layout job --out jobs/features-example"), "\(r.stderr)")
        #expect(!scratch.exists(".adaneg"), "a database was created for a job that cannot run")
    }

    func run(_ arguments: [String], in scratch: Scratch) throws -> CLI.Result {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments
        process.currentDirectoryURL = scratch.url
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLI.Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self))
    }
}
