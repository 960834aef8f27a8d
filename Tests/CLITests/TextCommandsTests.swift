import AdaNeg
import CLIP
import Foundation
import NPY
import Tensor
import Testing

/// `tokenize`, `embed-text` and `mine-negatives` on a tiny random-weight CLIP with the real
/// vocabulary (the CLIP tests' fixtures).
@Suite("Text commands", .serialized)
struct TextCommandsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("CLIPTests/Fixtures")

    /// A model directory assembled from the gzipped fixtures.
    static func model(in s: Scratch) throws -> String {
        let dir = s.url.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let name = "tiny-p32-quickgelu-fp32"
        try Data(contentsOf: fixtures.appendingPathComponent("models/\(name)/config.json")).write(to: dir.appendingPathComponent("config.json"))
        try Gzip.decompress(Data(contentsOf: fixtures.appendingPathComponent("models/\(name)/model.safetensors.gz")))
            .write(to: dir.appendingPathComponent("model.safetensors"))
        for file in ["vocab.json", "merges.txt"] {
            try Gzip.decompress(Data(contentsOf: fixtures.appendingPathComponent("tokenizer/\(file).gz"))).write(to: dir.appendingPathComponent(file))
        }
        return dir.path
    }

    @Test("tokenize and embed-text agree with the CLIP module")
    func tokenizeAndEmbed() throws {
        let s = try Scratch()
        let dir = try Self.model(in: s)
        let clip = try CLIPModel(directory: dir, towers: .text)
        let t = try CLI.run(["tokenize", "--model", dir, "a photo of a cat", "The nice tench."])
        #expect(t.status == 0, "\(t.stderr)")
        let lines = t.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let ids = try JSONDecoder().decode([Int].self, from: Data(lines[0].utf8))
        #expect(ids == [49406] + (clip.tokenizer?.encode("a photo of a cat") ?? []) + [49407])
        #expect(ids.first == 49406 && ids.last == 49407)

        try "a photo of a cat\nThe nice tench.\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        let e = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("t.npy")])
        #expect(e.status == 0, "\(e.stderr)")
        let (rows, cols, values) = try NPYFile.readMatrix(s.path("t.npy"))
        #expect(rows == 2 && cols == clip.config.projectionDim)
        let expected = try clip.embedTexts(["a photo of a cat", "The nice tench."]).rowNormalized()
        for (a, b) in zip(values, expected.storage) { #expect(abs(a - b) < 1e-5) }
    }

    @Test("mine-negatives writes the selection, the features and a manifest; a re-run is a cache hit")
    func mineNegatives() throws {
        let s = try Scratch()
        let dir = try Self.model(in: s)
        try "tench\ngoldfish\ngreat white shark\nsunglasses\nsunglasses\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let nouns = ["rock", "cloud", "violin", "tax", "bridge", "ladder", "cathedral", "algebra", "umbrella", "volcano", "tench"]
        let adjectives = ["quick", "purple", "sleepy", "wooden", "rock", "angry"]
        let lexicon = nouns.map { "\($0)\tnoun" } + adjectives.map { "\($0)\tadj" }
        try (lexicon.joined(separator: "\n") + "\n").write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        let out = s.path("negatives")
        let args = ["mine-negatives", "--model", dir, "--classes", s.path("classes.txt"), "--out", out, "--count", "8", "--lexicon", s.path("lexicon.tsv")]
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("repeats line 4"))
        let tsv = try String(contentsOfFile: out + "/negatives.tsv", encoding: .utf8).split(separator: "\n")
        #expect(tsv.first == "label\tpos\teta")
        let chosen = tsv.dropFirst().map { $0.split(separator: "\t") }
        #expect(chosen.count == 8)
        // 10 nouns (tench is an ID class) and 4 adjectives (rock is a noun): ⌊8·4/14⌋ = 2 adjectives first.
        #expect(chosen.prefix(2).allSatisfy { $0[1] == "adj" } && chosen.dropFirst(2).allSatisfy { $0[1] == "noun" })
        #expect(!chosen.contains { $0[0] == "tench" || ($0[0] == "rock" && $0[1] == "adj") })
        let etas = chosen.map { Float($0[2])! }
        #expect(Array(etas.prefix(2)) == etas.prefix(2).sorted() && Array(etas.dropFirst(2)) == etas.dropFirst(2).sorted())
        // Each negative's row is its own prompt's feature (kept from the η pass, not embedded again).
        try Self.expectNegativeRows(out, chosen: chosen, idClasses: 5, model: dir)
        #expect(FileManager.default.fileExists(atPath: out + "/manifest.json"))

        let second = try CLI.run(args)
        #expect(second.status == 0 && second.stdout.contains("cache hit"))
    }

    @Test("mine-negatives over 1,600 candidates (tokenised on every core, chunk size measured): each negative's row is its own prompt's feature")
    func mineManyCandidates() throws {
        let s = try Scratch()
        let dir = try Self.model(in: s)
        try "tench\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let syllables = ["ka", "lo", "mir", "tan", "vel", "or", "pu", "sen", "gra", "th", "ub", "zo", "ne", "qui", "ar", "dem"]
        var words: [String] = []
        for a in syllables { for b in syllables { for c in ["", "x", "na", "l", "ster", "um"] { words.append(a + b + c) } } }
        let lexicon = words.prefix(1_300).map { "\($0)\tnoun" } + words.dropFirst(1_300).prefix(300).map { "\($0)\tadj" }
        try (lexicon.joined(separator: "\n") + "\n").write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        let out = s.path("negatives")
        let run = try CLI.run(["mine-negatives", "--model", dir, "--classes", s.path("classes.txt"), "--out", out, "--count", "40", "--lexicon", s.path("lexicon.tsv")],
                              environment: ["ADANEG_CACHE_DIR": s.path("cache"), "ADANEG_WEIGHT_CACHE": nil, "ADANEG_TEXT_CHUNK_ROWS": nil])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("time: model") && run.stderr.contains("text tower"), "\(run.stderr)")
        let chosen = try String(contentsOfFile: out + "/negatives.tsv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: "\t") }
        #expect(chosen.count == 40)
        try Self.expectNegativeRows(out, chosen: chosen, idClasses: 2, model: dir)
    }

    @Test("an unusable ADANEG_TEXT_CHUNK_ROWS is reported on every run, also once the measurement is kept, and changes no output")
    func unusableChunkOverride() throws {
        let s = try Scratch()
        let dir = try Self.model(in: s)
        try "a photo of a cat\nthe nice dog\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        let cache: [String: String?] = ["ADANEG_CACHE_DIR": s.path("cache"), "ADANEG_WEIGHT_CACHE": nil]
        let first = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("a.npy")],
                                environment: cache.merging(["ADANEG_TEXT_CHUNK_ROWS": nil]) { $1 })
        #expect(first.status == 0, "\(first.stderr)")
        for value in ["abc", "0", "-1", "nan", "99999999999999999999"] {
            let run = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("b.npy")],
                                  environment: cache.merging(["ADANEG_TEXT_CHUNK_ROWS": value]) { $1 })
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.contains("ADANEG_TEXT_CHUNK_ROWS='\(value)' is not a positive whole number: ignored"), "\(value): \(run.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("a.npy"))) == Data(contentsOf: URL(fileURLWithPath: s.path("b.npy"))))
        }
    }

    /// `text-features.npy` in `out` holds the ID classes' rows, then one row per chosen negative
    /// (`label, pos, η` lines), each within cosine 0.99999 of its own prompt embedded alone.
    static func expectNegativeRows(_ out: String, chosen: [[Substring]], idClasses: Int, model: String) throws {
        let (rows, cols, features) = try NPYFile.readMatrix(out + "/text-features.npy")
        #expect(rows == idClasses + chosen.count)
        let clip = try CLIPModel(directory: model, towers: .text)
        let prompts = chosen.map { $0[1] == "adj" ? "This is a \($0[0]) photo." : "The nice \($0[0])." }
        let expected = try clip.embedTexts(prompts)
        for (i, prompt) in prompts.enumerated() {
            let row = Array(features[(idClasses + i) * cols ..< (idClasses + i + 1) * cols]), want = expected.row(i)
            let dot = zip(row, want).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(dot >= 0.99999, "negative \(i) \(prompt.debugDescription): cosine \(dot) to its prompt's feature")
        }
    }

    @Test("bad class lists and model directories are refused without leaving output")
    func badInputs() throws {
        let s = try Scratch()
        let dir = try Self.model(in: s)
        try "tench\n\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        try "rock\tnoun\n".write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        let out = s.path("negatives")
        let empty = try CLI.run(["mine-negatives", "--model", dir, "--classes", s.path("classes.txt"), "--out", out, "--lexicon", s.path("lexicon.tsv")])
        #expect(empty.status == 2 && empty.stderr.contains("classes.txt:2: empty class name"))
        #expect(!FileManager.default.fileExists(atPath: out))

        try "tench\ngoldfish\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/vocab.json")
        try FileManager.default.removeItem(atPath: dir + "/merges.txt")
        let noTokenizer = try CLI.run(["mine-negatives", "--model", dir, "--classes", s.path("classes.txt"), "--out", out, "--lexicon", s.path("lexicon.tsv")])
        #expect(noTokenizer.status == 2 && noTokenizer.stderr.contains("vocab.json"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

@Suite("Jobs with mined negatives")
struct MinedJobTests {
    @Test("run mines the negatives of a job that names a model, caches them, and scores")
    func runMines() throws {
        let s = try Scratch()
        let dir = try TextCommandsTests.model(in: s)
        let data = SyntheticBenchmark(shape: .init(classes: 5, negatives: 10, dimension: 32, idSamples: 120, oodSamples: 60), seed: 2)
        try DemoFiles.write(data, to: s)
        try "tench\ngoldfish\ngreat white shark\ntiger shark\nhammerhead\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let words = ["rock\tnoun", "cloud\tnoun", "violin\tnoun", "tax\tnoun", "bridge\tnoun", "ladder\tnoun", "algebra\tnoun",
                     "umbrella\tnoun", "volcano\tnoun", "piano\tnoun", "quick\tadj", "purple\tadj", "sleepy\tadj", "wooden\tadj"]
        try (words.joined(separator: "\n") + "\n").write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        let yaml = """
        name: mined
        model: \(dir)
        id: {classes: classes.txt, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood-covered.npy}
        negatives: {count: 10, lexicon: lexicon.tsv}
        scoring: {batch_size: 32, memleng: 4}
        """
        try yaml.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        let args = ["run", s.path("job.yaml"), "--workers", "1", "--db", s.path("db/run.sqlite")]
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("wrote 10 negative labels"))
        #expect(first.stdout.contains("covered") && first.stdout.contains("NegLabel"))
        #expect(FileManager.default.fileExists(atPath: s.path("db/negatives-mined/text-features.npy")))
        let second = try CLI.run(args)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("cache hit") && second.stderr.contains("resuming job 'mined'"))
    }
}
