import AdaNeg
import Foundation
import NPY
import Testing

/// Issue 22 item 9: every path a flag or a spec key names is refused when it is not a regular
/// file — a FIFO (which would block its reader forever), `/dev/zero` (which never ends), a
/// folder — with exit 2 and a message naming the path and what it is. Each run has a guard:
/// a regression that blocks is killed and fails the test instead of hanging the suite.
@Suite("Non-regular files named by flags and spec keys", .serialized)
struct NonRegularFileCLITests {
    /// Runs `adaneg`; a run still going after `seconds` is killed and reported as hung.
    static func guarded(_ arguments: [String], environment: [String: String] = [:], seconds: Double = 120) throws -> (status: Int32, stderr: String, hung: Bool) {
        let s = try Scratch()
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        FileManager.default.createFile(atPath: s.path("out"), contents: nil)
        FileManager.default.createFile(atPath: s.path("err"), contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: s.url.appendingPathComponent("out"))
        process.standardError = try FileHandle(forWritingTo: s.url.appendingPathComponent("err"))
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        var hung = false
        if done.wait(timeout: .now() + seconds) == .timedOut {
            hung = true
            kill(process.processIdentifier, SIGKILL)
            done.wait()
        }
        let stderr = (try? String(contentsOfFile: s.path("err"), encoding: .utf8)) ?? ""
        return (process.terminationStatus, stderr, hung)
    }

    static func fifo(_ s: Scratch, _ name: String) -> String {
        let path = s.path(name)
        #expect(mkfifo(path, 0o600) == 0, "mkfifo \(path)")
        return path
    }

    /// Exit 2, not hung, the message names `path` and says what it is (and `mentions`, a flag or key).
    func expectRefused(_ arguments: [String], path: String, kind: String = "a FIFO", mentions: String? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Self.guarded(arguments)
        #expect(!r.hung, "adaneg \(arguments.joined(separator: " ")) blocked on \(path)", sourceLocation: sourceLocation)
        #expect(r.status == 2, "adaneg \(arguments.joined(separator: " ")): exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(path) && r.stderr.contains("is \(kind), not a regular file"), "\(r.stderr)", sourceLocation: sourceLocation)
        if let mentions { #expect(r.stderr.contains(mentions), "\(mentions) not named: \(r.stderr)", sourceLocation: sourceLocation) }
    }

    /// Valid score-features inputs.
    func scoringInputs(_ s: Scratch) throws -> [String: String] {
        let data = SyntheticBenchmark(shape: .init(classes: 4, negatives: 12, dimension: 8, idSamples: 16, oodSamples: 8), seed: 3)
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: 8, to: s.path("images.npy"))
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: s.path("labels.npy"))
        return ["--image-features": s.path("images.npy"), "--text-features": s.path("text.npy"), "--labels": s.path("labels.npy")]
    }

    func scoreArguments(_ inputs: [String: String], _ s: Scratch) -> [String] {
        ["score-features", "--num-id", "4", "--groups", "4", "--out", s.path("scores.csv")] + inputs.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
    }

    @Test("score-features: a FIFO or /dev/zero as --image-features, --text-features, --labels or --perm")
    func scoreFeatures() throws {
        let s = try Scratch()
        let valid = try scoringInputs(s)
        for flag in ["--image-features", "--text-features", "--labels", "--perm"] {
            var inputs = valid
            let fifo = Self.fifo(s, "fifo\(flag)")
            inputs[flag] = fifo
            try expectRefused(scoreArguments(inputs, s), path: fifo, mentions: flag)
            inputs[flag] = "/dev/zero"
            try expectRefused(scoreArguments(inputs, s), path: "/dev/zero", kind: "a character device", mentions: flag)
        }
    }

    @Test("a 2-D labels file names its shape and what is expected, not 'a 1-D or 2-D array'")
    func twoDimensionalLabels() throws {
        let s = try Scratch()
        var inputs = try scoringInputs(s)
        try NPYFile.write(.int64([Int](repeating: 0, count: 32), shape: [16, 2]), to: s.path("labels-2d.npy"))
        inputs["--labels"] = s.path("labels-2d.npy")
        let r = try Self.guarded(scoreArguments(inputs, s))
        #expect(r.status == 2)
        #expect(r.stderr.contains("--labels") && r.stderr.contains("labels-2d.npy") && r.stderr.contains("one integer per entry") && r.stderr.contains("[16, 2]"), "\(r.stderr)")
        #expect(!r.stderr.contains("expected a 1-D or 2-D array"))
    }

    @Test("report --db, status --db and rescore --db on a FIFO or /dev/zero: what it is, not 'an empty file' or 'permission'")
    func databases() throws {
        let s = try Scratch()
        let fifo = Self.fifo(s, "db.sqlite")
        try expectRefused(["report", "--db", fifo, "job"], path: fifo)
        try expectRefused(["status", "--db", fifo, "job"], path: fifo)
        try expectRefused(["rescore", "--db", fifo, "job"], path: fifo)
        for command in [["report", "--db", "/dev/zero", "job"], ["status", "--db", "/dev/zero", "job"]] {
            let r = try Self.guarded(command)
            #expect(!r.hung && r.status == 2, "\(r.stderr)")
            #expect(r.stderr.contains("/dev/zero is a character device") || r.stderr.contains("/dev/zero: is a character device"), "\(r.stderr)")
            #expect(!r.stderr.contains("permission") && !r.stderr.contains("empty file"), "\(r.stderr)")
        }
    }

    @Test("--token-file on a FIFO: submit, status, report and serve refuse it naming the flag")
    func tokenFiles() throws {
        let s = try Scratch()
        let fifo = Self.fifo(s, "token")
        let spec = s.path("job.yaml")
        try "name: x\n".write(toFile: spec, atomically: true, encoding: .utf8)
        try expectRefused(["status", "--coordinator", "http://127.0.0.1:9", "--token-file", fifo, "job"], path: fifo, mentions: "--token-file")
        try expectRefused(["report", "--coordinator", "http://127.0.0.1:9", "--token-file", fifo, "job"], path: fifo, mentions: "--token-file")
        try expectRefused(["serve", "--db", s.path("serve.sqlite"), "--port", "0", "--token-file", fifo], path: fifo, mentions: "--token-file")
    }

    @Test("embed-text --texts, embed-images --images, mine-negatives --classes and --lexicon on a FIFO")
    func textAndImageLists() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let texts = Self.fifo(s, "texts.txt")
        try expectRefused(["embed-text", "--model", model, "--texts", texts, "--out", s.path("t.npy")], path: texts, mentions: "--texts")
        let images = Self.fifo(s, "images.txt")
        try expectRefused(["embed-images", "--model", model, "--images", images, "--out", s.path("i.npy")], path: images, mentions: "--images")
        let classes = Self.fifo(s, "classes.txt")
        try expectRefused(["mine-negatives", "--model", model, "--classes", classes, "--out", s.path("neg")], path: classes)
        try "tench\ngoldfish\n".write(toFile: s.path("real-classes.txt"), atomically: true, encoding: .utf8)
        let lexicon = Self.fifo(s, "lexicon.tsv")
        try expectRefused(["mine-negatives", "--model", model, "--classes", s.path("real-classes.txt"), "--lexicon", lexicon, "--out", s.path("neg2")], path: lexicon)
    }

    @Test("model files (config.json, model.safetensors, vocab.json), serve --db and submit's spec as FIFOs: refused naming the path")
    func modelFilesAndDatabases() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try "a cat\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        for file in ["config.json", "model.safetensors", "vocab.json"] {
            let path = model + "/" + file
            let saved = try Data(contentsOf: URL(fileURLWithPath: path))
            try FileManager.default.removeItem(atPath: path)
            #expect(mkfifo(path, 0o600) == 0)
            let r = try Self.guarded(["embed-text", "--model", model, "--texts", s.path("texts.txt"), "--out", s.path("t.npy")],
                                     environment: ["ADANEG_WEIGHT_CACHE": "off"])
            #expect(!r.hung, "embed-text blocked on \(file)")
            #expect(r.status == 2 && r.stderr.contains(path) && r.stderr.contains("is a FIFO, not a regular file"), "\(file): \(r.stderr)")
            try FileManager.default.removeItem(atPath: path)
            try saved.write(to: URL(fileURLWithPath: path))
        }
        let db = Self.fifo(s, "serve.sqlite")
        try expectRefused(["serve", "--db", db, "--port", "0"], path: db)
        let spec = Self.fifo(s, "job.yaml")
        try expectRefused(["submit", "--coordinator", "http://127.0.0.1:9", spec], path: spec)
    }

    @Test("embed-images: a listed image that is a FIFO is that image's error (--skip-bad), the rest embedded")
    func imageThatIsAFIFO() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let fifo = Self.fifo(s, "photo.png")
        try "\(fifo)\n".write(toFile: s.path("list.txt"), atomically: true, encoding: .utf8)
        let r = try Self.guarded(["embed-images", "--model", model, "--images", s.path("list.txt"), "--out", s.path("x.npy"), "--skip-bad"])
        #expect(!r.hung, "embed-images blocked on a FIFO image")
        #expect(r.stderr.contains(fifo) && r.stderr.contains("is a FIFO, not a regular file"), "\(r.stderr)")
    }

    @Test("run: the spec itself, and every file key of a spec, as a FIFO: exit 2 naming the key")
    func specKeys() throws {
        let s = try Scratch()
        let fifoSpec = Self.fifo(s, "spec.yaml")
        try expectRefused(["run", fifoSpec, "--db", s.path("a.sqlite")], path: fifoSpec)

        let data = SyntheticBenchmark(shape: .init(classes: 4, negatives: 12, dimension: 8, idSamples: 16, oodSamples: 8), seed: 5)
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: 8, to: s.path("id.npy"))
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: s.path("id-labels.npy"))
        try NPYFile.writeMatrix(data.oodSets[0].features.storage, rows: data.oodSets[0].features.rows, cols: 8, to: s.path("ood.npy"))
        try "a\nb\nc\nd\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let files = ["id.features": "id.npy", "id.labels": "id-labels.npy", "ood[0].features": "ood.npy",
                     "negatives.text_features": "text.npy", "id.classes": "classes.txt", "negatives.permutation": "perm.npy"]
        try NPYFile.write(.int64(Array(0..<12), shape: [12]), to: s.path("perm.npy"))
        for (key, _) in files.sorted(by: { $0.key < $1.key }) {
            var names = files
            let fifo = Self.fifo(s, "fifo-" + key.filter { $0.isLetter || $0 == "." })
            names[key] = fifo
            let yaml = """
            name: fifo
            id: {classes: \(names["id.classes"]!), features: \(names["id.features"]!), labels: \(names["id.labels"]!)}
            ood:
              - {name: covered, features: \(names["ood[0].features"]!)}
            negatives: {count: 12, text_features: \(names["negatives.text_features"]!), permutation: \(names["negatives.permutation"]!)}
            scoring: {batch_size: 8, groups: 4}
            """
            let spec = s.path("job-" + key.filter { $0.isLetter || $0 == "." } + ".yaml")
            try yaml.write(toFile: spec, atomically: true, encoding: .utf8)
            try expectRefused(["run", spec, "--db", s.path("run-" + key.filter { $0.isLetter || $0 == "." } + ".sqlite"), "--workers", "1"], path: fifo, mentions: key)
        }
    }
}
