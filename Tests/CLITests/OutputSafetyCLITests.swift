import AdaNeg
import Foundation
import NPY
import Testing

/// Issue 22, items 1 and 2, for every command that writes an output: an output never deletes or
/// replaces what the command did not write (`--out .`, a folder of other files, a file of
/// another kind), never an input (directly, through a symbolic link or `..`), and a re-run over
/// the command's own previous output still works.
@Suite("Outputs never replace what the command did not write", .serialized)
struct OutputSafetyCLITests {
    /// Every entry under `root`: a file's bytes, a link's target, or a folder mark.
    func snapshot(_ root: URL) -> [String: Data] {
        var entries = [String: Data]()
        let fm = FileManager.default
        for relative in (fm.enumerator(atPath: root.path)?.allObjects as? [String]) ?? [] {
            let path = root.appendingPathComponent(relative).path
            let type = (try? fm.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
            switch type {
            case .typeSymbolicLink?: entries[relative] = Data(("link:" + ((try? fm.destinationOfSymbolicLink(atPath: path)) ?? "")).utf8)
            case .typeDirectory?: entries[relative] = Data("folder".utf8)
            default: entries[relative] = fm.contents(atPath: path) ?? Data("unreadable".utf8)
            }
        }
        return entries
    }

    /// Runs `arguments` in `s` and expects exit 2, a message naming each of `mentions`, and
    /// every file under `s` as it was.
    @discardableResult
    func expectRefused(_ arguments: [String], in s: Scratch, mentions: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) throws -> CLI.Result {
        let before = snapshot(s.url)
        let r = try CLI.run(arguments, directory: s.url)
        #expect(r.status == 2, "\(arguments): \(r.stderr)", sourceLocation: sourceLocation)
        for mention in mentions {
            #expect(r.stderr.contains(mention), "\(arguments): '\(mention)' not in \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!r.stderr.contains("NSCocoaErrorDomain"), "\(r.stderr)", sourceLocation: sourceLocation)
        let after = snapshot(s.url)
        #expect(after == before, "\(arguments) changed \(Set(after.keys).symmetricDifference(before.keys)) or a file's bytes",
                sourceLocation: sourceLocation)
        return r
    }

    func expectWorks(_ arguments: [String], in s: Scratch, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(arguments, directory: s.url)
        #expect(r.status == 0, "\(arguments): \(r.stderr)", sourceLocation: sourceLocation)
    }

    /// A file the user keeps next to the inputs and a folder of theirs, and `link`, a symbolic
    /// link to `input`: what the hostile outputs are tried against.
    func userFiles(_ s: Scratch, linkTo input: String) throws {
        try "my notes\n".write(toFile: s.path("notes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: s.path("mine"), withIntermediateDirectories: true)
        try "keep\n".write(toFile: s.path("mine/keep.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: s.path("link"), withDestinationPath: s.path(input))
    }

    /// The refusals every file output shares: `.`, a folder of other files, each input
    /// (directly, through a symbolic link and through `..`) and a file of another kind.
    func fileOutputRefusals(_ base: [String], in s: Scratch, inputs: [(file: String, flag: String)]) throws {
        try expectRefused(base + ["--out", "."], in: s, mentions: ["--out '.' is a folder"])
        try expectRefused(base + ["--out", s.path("mine")], in: s, mentions: ["is a folder"])
        for (file, flag) in inputs {
            try expectRefused(base + ["--out", file], in: s, mentions: ["--out '\(file)' is the input given as \(flag)"])
            try expectRefused(base + ["--out", "mine/../" + file], in: s, mentions: ["is the input given as \(flag)"])
            let link = "link-to-" + file.replacingOccurrences(of: "/", with: "-")
            if !FileManager.default.fileExists(atPath: s.path(link)) {
                try FileManager.default.createSymbolicLink(atPath: s.path(link), withDestinationPath: s.path(file))
            }
            try expectRefused(base + ["--out", link], in: s, mentions: ["--out '\(link)' is the input given as \(flag)"])
        }
        try expectRefused(base + ["--out", "notes.txt"], in: s, mentions: ["--out 'notes.txt' already exists and is not"])
        try expectRefused(base + ["--out", "no/such/out"], in: s, mentions: ["the folder 'no/such' does not exist"])
    }

    @Test("score-features: inputs, folders and other files are refused; its own CSV is replaced")
    func scoreFeatures() throws {
        let s = try Scratch()
        let data = SyntheticBenchmark(shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 20, oodSamples: 20), seed: 3)
        let (features, labels) = data.stream(for: .covered, seed: 4)
        try NPYFile.writeMatrix(features.storage, rows: features.rows, cols: 8, to: s.path("image.npy"))
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        try NPYFile.write(.int64(labels, shape: [labels.count]), to: s.path("labels.npy"))
        try NPYFile.write(.int64(Array(0..<20), shape: [20]), to: s.path("perm.npy"))
        try userFiles(s, linkTo: "text.npy")
        let base = ["score-features", "--image-features", "image.npy", "--text-features", "text.npy", "--num-id", "5",
                    "--labels", "labels.npy", "--perm", "perm.npy"]
        try fileOutputRefusals(base, in: s, inputs: [("image.npy", "--image-features"), ("text.npy", "--text-features"),
                                                    ("labels.npy", "--labels"), ("perm.npy", "--perm")])
        #expect(mkfifo(s.path("fifo"), 0o600) == 0)
        try expectRefused(base + ["--out", "fifo"], in: s, mentions: ["--out 'fifo' is a FIFO"])
        try expectWorks(base + ["--out", "scores.csv"], in: s)
        try expectWorks(base + ["--out", "scores.csv"], in: s)
        #expect(try String(contentsOfFile: s.path("scores.csv"), encoding: .utf8).hasPrefix("index,pred,conf"))
    }

    @Test("embed-text and embed-images: the texts, the image list, a listed image and the model's files are inputs")
    func embedCommands() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try "a photo of a cat\nThe nice tench.\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: TextCommandsTests.fixtures.appendingPathComponent("images/drawing.png").path,
                                         toPath: s.path("cat.png"))
        try "cat.png\n".write(toFile: s.path("list.txt"), atomically: true, encoding: .utf8)
        try userFiles(s, linkTo: "texts.txt")

        let text = ["embed-text", "--model", model, "--texts", "texts.txt"]
        try fileOutputRefusals(text, in: s, inputs: [("texts.txt", "--texts"), ("model/config.json", "--model"),
                                                    ("model/model.safetensors", "--model")])
        try expectWorks(text + ["--out", "t.npy"], in: s)
        try expectWorks(text + ["--out", "t.npy"], in: s)

        let images = ["embed-images", "--model", model, "--images", "list.txt"]
        try fileOutputRefusals(images, in: s, inputs: [("list.txt", "--images"), ("cat.png", "--images (line 1)"),
                                                      ("model/vocab.json", "--model")])
        try expectWorks(images + ["--out", "x.npy"], in: s)
        try expectWorks(images + ["--out", "x.npy"], in: s)
        // A previous embed-text output is a .npy too: replacing it is the documented re-run.
        try expectWorks(images + ["--out", "t.npy"], in: s)
    }

    @Test("mine-negatives: `--out .`, a file, a foreign folder and a folder holding an input are refused; its own folder is replaced")
    func mineNegatives() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try "tench\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let lexicon = ["rock\tnoun", "cloud\tnoun", "violin\tnoun", "bridge\tnoun", "quick\tadj", "purple\tadj"]
        try (lexicon.joined(separator: "\n") + "\n").write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        try userFiles(s, linkTo: "classes.txt")
        let base = ["mine-negatives", "--model", model, "--classes", "classes.txt", "--lexicon", "lexicon.tsv", "--count", "4"]

        // The probe's finding: `--out .` wiped the working folder, the class list included.
        try expectRefused(base + ["--out", "."], in: s, mentions: ["--out '.' holds the input given as"])
        try expectRefused(base + ["--out", "mine"], in: s, mentions: ["--out 'mine' is a folder that adaneg mine-negatives did not write"])
        try expectRefused(base + ["--out", "notes.txt"], in: s, mentions: ["--out 'notes.txt' is a regular file, not a folder"])
        try expectRefused(base + ["--out", "classes.txt"], in: s, mentions: ["--out 'classes.txt'"])
        try expectRefused(base + ["--out", "link"], in: s, mentions: ["--out 'link'"])
        try expectRefused(base + ["--out", "model"], in: s, mentions: ["--out 'model' holds the input given as --model"])
        // The working folder again, through `..` and through a link to it.
        try FileManager.default.createSymbolicLink(atPath: s.path("here"), withDestinationPath: s.url.path)
        try expectRefused(base + ["--out", "mine/.."], in: s, mentions: ["--out 'mine/..' holds the input given as"])
        try expectRefused(base + ["--out", "here"], in: s, mentions: ["--out 'here' holds the input given as"])

        try expectWorks(base + ["--out", "neg"], in: s)
        try expectWorks(base + ["--count", "3", "--out", "neg"], in: s)
        let tsv = try String(contentsOfFile: s.path("neg/negatives.tsv"), encoding: .utf8)
        #expect(tsv.split(separator: "\n").count == 1 + 3, "the re-run replaced its own output")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: s.path("neg"))) == ["negatives.tsv", "text-features.npy", "manifest.json"])
        // An empty folder is used.
        try FileManager.default.createDirectory(atPath: s.path("empty"), withIntermediateDirectories: true)
        try expectWorks(base + ["--out", "empty"], in: s)

        // Its own folder, once it holds an input or a file the user added, is refused untouched.
        try FileManager.default.copyItem(atPath: s.path("classes.txt"), toPath: s.path("neg/classes.txt"))
        try expectRefused(["mine-negatives", "--model", model, "--classes", "neg/classes.txt", "--lexicon", "lexicon.tsv", "--count", "2",
                           "--out", "neg"], in: s, mentions: ["--out 'neg' holds the input given as --classes"])
        try expectRefused(base + ["--count", "2", "--out", "neg"], in: s, mentions: ["also holds 'classes.txt'"])
    }

    @Test("synthesize: `--out .`, a file and a foreign folder are refused; its own folder is replaced, an empty one used")
    func synthesize() throws {
        let s = try Scratch()
        try "my notes\n".write(toFile: s.path("notes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: s.path("mine"), withIntermediateDirectories: true)
        try "keep\n".write(toFile: s.path("mine/keep.txt"), atomically: true, encoding: .utf8)
        let base = ["synthesize", "--classes", "4", "--negatives", "8", "--dim", "8", "--id-samples", "8", "--ood-samples", "8"]
        try expectRefused(base + ["--out", "."], in: s, mentions: ["--out '.' is a folder that adaneg synthesize did not write"])
        try expectRefused(base + ["--out", "mine"], in: s, mentions: ["'keep.txt'"])
        try expectRefused(base + ["--out", "notes.txt"], in: s, mentions: ["--out 'notes.txt' is a regular file, not a folder"])
        try expectRefused(base + ["--out", "notes.txt/sub"], in: s, mentions: ["--out 'notes.txt/sub'"])

        try expectWorks(base + ["--out", "syn"], in: s)
        try expectWorks(base + ["--out", "syn", "--layout", "job"], in: s)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: s.path("syn")))
                == ["text.npy", "id.npy", "id-labels.npy", "ood-covered.npy", "ood-uncovered.npy", "ood-near-id.npy", "manifest.json"])
        try FileManager.default.createDirectory(atPath: s.path("empty"), withIntermediateDirectories: true)
        try expectWorks(base + ["--out", "empty"], in: s)
    }

    @Test("demo and report: the demo's folder is its own; report never replaces the database, its folder or a binary file")
    func demoAndReport() throws {
        let s = try Scratch()
        try "my notes\n".write(toFile: s.path("notes.txt"), atomically: true, encoding: .utf8)
        let demo = ["demo", "--workers", "1", "--classes", "4", "--negatives", "8", "--dim", "8", "--id-samples", "32", "--ood-samples", "16"]
        try expectRefused(demo + ["--dir", "."], in: s, mentions: ["--dir '.' is a folder that adaneg demo did not write"])
        try expectRefused(demo + ["--dir", "notes.txt"], in: s, mentions: ["--dir 'notes.txt' is a regular file, not a folder"])
        try expectWorks(demo + ["--dir", "d"], in: s)
        try expectWorks(demo + ["--dir", "d"], in: s)

        let report = ["report", "--db", "d/demo.sqlite", "demo-task"]
        try FileManager.default.createSymbolicLink(atPath: s.path("link"), withDestinationPath: s.path("d/demo.sqlite"))
        try expectRefused(report + ["--out", "d/demo.sqlite"], in: s, mentions: ["--out 'd/demo.sqlite' is the input given as --db"])
        try expectRefused(report + ["--out", "d/../d/demo.sqlite"], in: s, mentions: ["is the input given as --db"])
        try expectRefused(report + ["--out", "link"], in: s, mentions: ["is the input given as --db"])
        try expectRefused(report + ["--out", "d"], in: s, mentions: ["--out 'd' is a folder; --out takes a file path"])
        try expectRefused(report + ["--out", "."], in: s, mentions: ["--out '.' is a folder; --out takes a file path"])
        try expectRefused(report + ["--out", "d/text.npy"], in: s, mentions: ["already exists and is not a report"])
        // The job's spec (not an input of report, but no report either) and the user's notes.
        try expectRefused(report + ["--out", "d/demo-task.yaml"], in: s, mentions: ["already exists and is not a report"])
        try expectRefused(report + ["--out", "notes.txt"], in: s, mentions: ["--out 'notes.txt' already exists and is not a report"])
        // Over HTTP the token file is the input, refused before anything is fetched.
        try "secret-token\n".write(toFile: s.path("token.txt"), atomically: true, encoding: .utf8)
        try expectRefused(["report", "--coordinator", "http://127.0.0.1:9", "--token-file", "token.txt", "demo-task", "--out", "token.txt"],
                          in: s, mentions: ["--out 'token.txt' is the input given as --token-file"])
        // A previous report, in any format, is replaced.
        for (format, next) in [("html", "json"), ("json", "csv"), ("csv", "md"), ("md", "table"), ("table", "html")] {
            try expectWorks(report + ["--format", format, "--out", "r.\(format)"], in: s)
            try expectWorks(report + ["--format", next, "--out", "r.\(format)"], in: s)
        }

        // A file the user put in the demo's folder keeps it from being replaced.
        try "mine\n".write(toFile: s.path("d/mine.txt"), atomically: true, encoding: .utf8)
        try expectRefused(demo + ["--dir", "d"], in: s, mentions: ["--dir 'd' was written by adaneg demo but also holds 'mine.txt'"])
    }

    @Test("run mines a job's negatives only into a folder of its own next to the database")
    func runMinesIntoItsOwnFolder() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let data = SyntheticBenchmark(shape: .init(classes: 2, negatives: 4, dimension: 32, idSamples: 16, oodSamples: 8), seed: 2)
        try DemoFiles.write(data, to: s)
        try "tench\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let words = ["rock\tnoun", "cloud\tnoun", "violin\tnoun", "bridge\tnoun", "quick\tadj", "purple\tadj"]
        try (words.joined(separator: "\n") + "\n").write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        try """
        name: mined
        model: \(model)
        id: {classes: classes.txt, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood-covered.npy}
        negatives: {count: 5, lexicon: lexicon.tsv}
        scoring: {batch_size: 8, memleng: 4}
        """.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        // The folder mining would use already holds the user's files.
        try FileManager.default.createDirectory(atPath: s.path("db/negatives-mined"), withIntermediateDirectories: true)
        try "mine\n".write(toFile: s.path("db/negatives-mined/notes.txt"), atomically: true, encoding: .utf8)
        let run = ["run", "job.yaml", "--workers", "1", "--db", "db/run.sqlite"]
        try expectRefused(run, in: s, mentions: ["the mined negatives folder", "did not write", "'notes.txt'"])
        try FileManager.default.removeItem(atPath: s.path("db/negatives-mined/notes.txt"))
        try expectWorks(run, in: s)
        #expect(FileManager.default.fileExists(atPath: s.path("db/negatives-mined/manifest.json")))
    }

    @Test("fetch-model: a local path that does not exist, a file, or a folder without a model exits 2")
    func fetchModelLocalPaths() throws {
        let s = try Scratch()
        try "x".write(toFile: s.path("file.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: s.path("empty"), withIntermediateDirectories: true)
        try expectRefused(["fetch-model", "./nope"], in: s, mentions: ["model './nope' is no existing folder"])
        try expectRefused(["fetch-model", "nope"], in: s, mentions: ["model 'nope' is no existing folder"])
        try expectRefused(["fetch-model", "file.txt"], in: s, mentions: ["model 'file.txt' is a file"])
        try expectRefused(["fetch-model", "./empty"], in: s, mentions: ["without config.json"])
        let model = try TextCommandsTests.model(in: s)
        let r = try CLI.run(["fetch-model", model])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == model)
    }
}
