import Foundation
import Testing
@testable import JobSpec

@Suite("Job spec: bad input is refused with every problem listed")
struct BadInputTests {
    let fx = Fixture()

    func only(_ problems: [JobSpecProblem], sourceLocation: SourceLocation = #_sourceLocation) -> JobSpecProblem? {
        #expect(problems.count == 1, "expected one problem, got \(problems.map(\.description))", sourceLocation: sourceLocation)
        return problems.first
    }

    @Test("unknown keys are named with their line and the closest known key")
    func unknownKeys() {
        let yaml = minimalFeatures + "\nscoring: {batchsize: 128, memlen: 5}\nsync_evry: 2\n"
        let problems = fx.problems(yaml)
        #expect(problems.count == 3)
        let byPath = Dictionary(uniqueKeysWithValues: problems.map { ($0.path, $0) })
        #expect(byPath["scoring.batchsize"]?.message.contains("did you mean 'batch_size'?") == true)
        #expect(byPath["scoring.batchsize"]?.line == 8)
        #expect(byPath["scoring.memlen"]?.message.contains("did you mean 'memleng'?") == true)
        #expect(byPath["sync_evry"]?.message.contains("did you mean 'sync_every'?") == true)
        #expect(byPath["sync_evry"]?.line == 9)
    }

    @Test("unknown keys inside sets, images and negatives")
    func unknownNestedKeys() {
        let yaml = """
        name: x
        id: {features: feat/id.npy, labels: labels.npy, label: labels.npy}
        ood:
          - {name: b, features: feat/ood-b.npy, grup: far}
        negatives: {count: 5, text_features: feat/text.npy, textfeatures: t.npy}
        """
        let paths = Set(fx.problems(yaml).map(\.path))
        #expect(paths == ["id.label", "ood[0].grup", "negatives.textfeatures"])
        let messages = fx.problems(yaml).map(\.message).joined(separator: "\n")
        #expect(messages.contains("did you mean 'labels'?"))
        #expect(messages.contains("did you mean 'group'?"))
        #expect(messages.contains("did you mean 'text_features'?"))
    }

    @Test("classes in an OOD set is unknown there (ID only)")
    func classesInOOD() {
        let yaml = minimalFeatures.replacingOccurrences(of: "{name: b, features", with: "{name: b, classes: c.txt, features")
        let p = only(fx.problems(yaml))
        #expect(p?.path == "ood[0].classes")
        #expect(p?.message.contains("unknown key 'classes'") == true)
    }

    @Test("wrong types are reported with what was expected and what was found")
    func wrongTypes() {
        let yaml = minimalFeatures + """

        scoring: {memleng: 2.5, thres: high, proxy: 3}
        seed: -1
        unit_batches: "8"
        keep_features: maybe
        preprocessing: [256, 224]
        """
        let problems = fx.problems(yaml)
        let byPath = Dictionary(uniqueKeysWithValues: problems.map { ($0.path, $0) })
        #expect(problems.count == 7, "\(problems.map(\.description))")
        #expect(byPath["scoring.memleng"]?.message == "expected an integer, found the number 2.5")
        #expect(byPath["scoring.thres"]?.message == "expected a number, found the string \"high\"")
        #expect(byPath["scoring.proxy"]?.message.contains("expected one of task, sample") == true)
        #expect(byPath["seed"]?.message == "must be an integer ≥ 0 (got -1)")
        #expect(byPath["unit_batches"]?.message == "expected an integer, found the string \"8\"")
        #expect(byPath["keep_features"]?.message == "expected true or false, found the string \"maybe\"")
        #expect(byPath["preprocessing"]?.message.contains("expected a mapping") == true)
        #expect(byPath["preprocessing"]?.line == 12)
        #expect(byPath["scoring.memleng"]?.line == 8)
    }

    @Test("bad enum values suggest the closest choice")
    func enumSuggestions() {
        let yaml = minimalFeatures + "\nscoring: {in_score: combined, replacement: entropi}\n"
        let problems = fx.problems(yaml)
        #expect(problems.count == 2)
        #expect(problems.contains { $0.path == "scoring.in_score" && $0.message.contains("did you mean 'combine'?") })
        #expect(problems.contains { $0.path == "scoring.replacement" && $0.message.contains("did you mean 'entropy'?") })
    }

    @Test("missing required keys")
    func missingKeys() {
        let problems = fx.problems("seed: 1\n")
        #expect(Set(problems.map(\.path)) == ["name", "id", "ood"])
        #expect(problems.allSatisfy { $0.message.contains("missing required key") })
        let ood = fx.problems("name: x\nid: {features: feat/id.npy, labels: labels.npy}\nood: []\nnegatives: {count: 5, text_features: feat/text.npy}")
        #expect(ood.map(\.path) == ["ood"])
        #expect(ood.first?.message == "needs at least one OOD set")
        let noName = fx.problems("name:\n" + minimalFeatures.split(separator: "\n").dropFirst().joined(separator: "\n"))
        #expect(noName.map(\.path) == ["name"])
        #expect(noName.first?.message == "has no value; expected a string")
        #expect(noName.first?.line == 1)
    }

    @Test("model and classes are required when the job needs them")
    func conditionallyRequired() {
        let yaml = """
        name: x
        id: {images: l.txt}
        ood: [{name: o, images: {folders: dir}}]
        """
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(Set(problems.map(\.path)) == ["model", "id.classes"])
        #expect(problems.first { $0.path == "model" }?.message.contains("id, ood[0] are given as images") == true)
        // Mining without text features also needs the model, even for features.
        let mining = fx.problems("name: x\nid: {classes: classes.txt, features: feat/id.npy, labels: labels.npy}\nood: [{name: b, features: feat/ood-b.npy}]\nnegatives: {count: 5}")
        #expect(mining.map(\.path) == ["model"])
        #expect(mining.first?.message.contains("mined") == true)
    }

    @Test("without data_root, lists of URLs are fine and every file path is refused at its line")
    func noDataRoot() throws {
        let urls = "https://images.example/cat/1.jpg 0\nhttp://images.example/dog/2.jpg 1\nhttps://images.example/bird/3.jpg 2\n"
        fx.dir.write("lists/id-urls.txt", urls)
        fx.dir.write("lists/ood-urls.txt", "https://images.example/a/1.jpg\n")
        let yaml = """
        name: x
        model: model
        id: {classes: classes.txt, images: lists/id-urls.txt}
        ood: [{name: a, images: {list: lists/ood-urls.txt}}]
        negatives: {count: 5, text_features: feat/text.npy}
        """
        let spec = try fx.parse(yaml)
        #expect(spec.dataRoot == nil)
        let samples = try #require(try spec.imageSamples(of: spec.id, isID: true))
        #expect(samples.root == nil)
        #expect(try samples.entries.map { try ImageList.resolve(reference: $0.reference, dataRoot: nil, allowOutsideRoot: false).absoluteString }
                == ["https://images.example/cat/1.jpg", "http://images.example/dog/2.jpg", "https://images.example/bird/3.jpg"])

        fx.dir.write("lists/id-mixed.txt", urls + "cat/4.jpg 0\nfile:///data/dog/5.jpg 1\n")
        let problems = fx.problems(yaml.replacingOccurrences(of: "lists/id-urls.txt", with: "lists/id-mixed.txt"))
        #expect(problems.map(\.line) == [4, 5], "\(problems.map(\.description))")
        #expect(problems.allSatisfy { $0.path == "id.images" && $0.file == fx.dir.path + "/lists/id-mixed.txt" })
        #expect(problems.first?.message.contains("'cat/4.jpg' is a file path") == true)
        #expect(problems.allSatisfy { $0.message.contains("data_root, which the job does not set") })
        #expect(throws: JobSpecError.self) { try ImageList.resolve(reference: "cat/4.jpg", dataRoot: nil, allowOutsideRoot: false) }
        #expect(throws: JobSpecError.self) { try ImageList.resolve(reference: "file:///data/dog/5.jpg", dataRoot: nil, allowOutsideRoot: false) }
        // allow_outside_root lets absolute paths through, with or without a root.
        #expect(try ImageList.resolve(reference: "/data/dog/5.jpg", dataRoot: nil, allowOutsideRoot: true).path == "/data/dog/5.jpg")
    }

    @Test("a set needs exactly one of images and features; ID features need labels")
    func imagesXorFeatures() {
        let yaml = """
        name: x
        model: model
        data_root: images
        id: {classes: classes.txt, images: lists/id.txt, features: feat/id.npy}
        ood:
          - {name: a}
          - {name: b, features: feat/ood-b.npy}
        negatives: {count: 5}
        """
        let problems = fx.problems(yaml)
        #expect(problems.count == 2, "\(problems.map(\.description))")
        #expect(problems.contains { $0.path == "id" && $0.line == 4 && $0.message.contains("not both") })
        #expect(problems.contains { $0.path == "ood[0]" && $0.line == 6 && $0.message.contains("needs images") })
        let noLabels = fx.problems(minimalFeatures.replacingOccurrences(of: "  labels: labels.npy\n", with: ""))
        #expect(noLabels.map(\.path) == ["id.labels"])
    }

    @Test("duplicate OOD names point at the second one and the first's line")
    func duplicateNames() {
        let yaml = minimalFeatures.replacingOccurrences(
            of: "  - {name: b, features: feat/ood-b.npy}",
            with: "  - {name: b, features: feat/ood-b.npy}\n  - {name: c, features: feat/ood-b.npy}\n  - {name: b, features: feat/ood-b.npy}")
        let p = only(fx.problems(yaml))
        #expect(p?.path == "ood[2].name")
        #expect(p?.line == 8)
        #expect(p?.message == "duplicate OOD set name 'b' (first used at line 6)")
    }

    @Test("names must be [A-Za-z0-9._-]+")
    func names() {
        let yaml = minimalFeatures.replacingOccurrences(of: "name: minimal", with: "name: my job/1")
            .replacingOccurrences(of: "{name: b,", with: "{name: \"ö\",")
        let problems = fx.problems(yaml)
        #expect(Set(problems.map(\.path)) == ["name", "ood[0].name"])
    }

    @Test("hyperparameters out of range, via ScoringParameters.problems()")
    func outOfRange() {
        let yaml = minimalFeatures.replacingOccurrences(of: "negatives: {count: 5,", with: "negatives: {count: 10,") + """

        scoring: {memleng: 0, thres: 1.5, gap: -0.1, beta: -1, lambda: .nan, groups: 0, batch_size: 0, logit_scale: 0}
        unit_batches: 0
        sync_every: -2
        preprocessing: {resize: 0, crop: -1}
        """
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(Set(problems.map(\.path)) == [
            "scoring.memleng", "scoring.thres", "scoring.gap", "scoring.beta", "scoring.lambda", "scoring.groups",
            "scoring.batch_size", "scoring.logit_scale", "unit_batches", "sync_every", "preprocessing.resize", "preprocessing.crop",
        ])
        #expect(problems.allSatisfy { $0.line != nil })
        #expect(problems.first { $0.path == "scoring.thres" }?.message == "thres must be in [0, 1] (got 1.5)")
        #expect(problems.first { $0.path == "scoring.thres" }?.line == 8)
        #expect(problems.first { $0.path == "sync_every" }?.line == 10)
    }

    @Test("crop larger than resize; too few negatives for the groups; lexicon with text features")
    func crossField() {
        let yaml = minimalFeatures.replacingOccurrences(of: "negatives: {count: 5,", with: "negatives: {count: 3, lexicon: lexicon.txt,")
            + "\npreprocessing: {resize: 200, crop: 224}\n"
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(Set(problems.map(\.path)) == ["preprocessing.crop", "negatives.count", "negatives.lexicon"])
        #expect(problems.first { $0.path == "negatives.count" }?.message.contains("cannot fill 5 groups") == true)
    }

    @Test("three different errors in one file give three problems, in one error")
    func allProblemsTogether() {
        let yaml = """
        name: three
        id: {features: feat/id.npy, labels: labels.npy}
        ood:
          - {name: b, features: feat/ood-b.npy}
          - {name: b, features: feat/missing.npy}
        negatives: {count: 5, text_features: feat/text.npy, colour: blue}
        """
        do {
            _ = try fx.parse(yaml)
            Issue.record("accepted a bad spec")
        } catch {
            #expect(error.problems.count == 3, "\(error)")
            #expect(error.problems.map(\.path).sorted() == ["negatives.colour", "ood[1].features", "ood[1].name"])
            #expect(error.problems.first { $0.path == "ood[1].features" }?.message.contains("not found") == true)
            #expect(error.problems.first { $0.path == "ood[1].features" }?.line == 5)
            #expect(error.description.contains("3 problems"))
            #expect(error.file == "<spec>")
        }
    }

    @Test("missing files: classes, lists, features, labels, text features, permutation, lexicon, model, data root")
    func missingFiles() {
        let empty = TempDir()
        let yaml = """
        name: files
        model: nomodel
        data_root: noroot
        id: {classes: c.txt, images: id.txt}
        ood:
          - {name: a, images: a.txt}
          - {name: b, features: b.npy}
          - {name: c, images: {folders: cdir}}
        negatives: {count: 5, lexicon: lex.txt, permutation: p.npy}
        """
        let problems: [JobSpecProblem]
        do {
            _ = try JobSpecLoader.parse(yaml: yaml, baseDirectory: empty.path)
            problems = []
        } catch { problems = error.problems }
        #expect(Set(problems.map(\.path)) == [
            "model", "data_root", "id.classes", "id.images", "ood[0].images", "ood[1].features", "ood[2].images",
            "negatives.lexicon", "negatives.permutation",
        ])
        #expect(problems.count == 9)
        #expect(problems.first { $0.path == "ood[1].features" }?.message == "features file not found: \(empty.path)/b.npy")
        #expect(problems.first { $0.path == "negatives.permutation" }?.line == 9)
        // The same spec is structurally fine.
        #expect(throws: Never.self) { try JobSpecLoader.parse(yaml: yaml, baseDirectory: empty.path, checkFiles: false) }
        // Labels and text features.
        let more = fx.problems(minimalFeatures.replacingOccurrences(of: "labels.npy", with: "nolabels.npy")
            .replacingOccurrences(of: "text_features: feat/text.npy", with: "text_features: notext.npy"))
        #expect(Set(more.map(\.path)) == ["id.labels", "negatives.text_features"])
    }

    @Test("a malformed image-list line is reported with the list file and line number")
    func malformedListLine() {
        fx.dir.write("lists/id.txt", "cat/1.jpg 0\n\ncat/2.jpg zero\ndog/3.jpg 1 extra\n")
        let problems = fx.problems(Fixture.yaml)
        #expect(problems.count == 2, "\(problems.map(\.description))")
        #expect(problems.allSatisfy { $0.path == "id.images" && $0.file == fx.dir.path + "/lists/id.txt" })
        #expect(problems.map(\.line) == [3, 4])
        #expect(problems[0].message.contains("'zero' is not an integer"))
        #expect(problems[0].description.hasPrefix(fx.dir.path + "/lists/id.txt:3: id.images: "))
    }

    @Test("ID list labels must be class indices; an OOD list may omit labels")
    func listLabels() {
        fx.dir.write("lists/id.txt", "cat/1.jpg 0\ndog/2.jpg 3\nbird/3.jpg\n")
        fx.dir.write("lists/ood-a.txt", "a/1.jpg\na/2.jpg -1\n")
        let problems = fx.problems(Fixture.yaml)
        #expect(problems.count == 1, "\(problems.map(\.description))")
        #expect(problems.contains { $0.line == 3 && $0.message.contains("no label") })
        // The out-of-range label is found once the list parses.
        fx.dir.write("lists/id.txt", "cat/1.jpg 0\ndog/2.jpg 3\n")
        let range = fx.problems(Fixture.yaml)
        #expect(range.count == 1)
        #expect(range.first?.message.contains("outside 0..<3") == true)
    }

    @Test("list references that leave the data root are refused at load, unless allowed")
    func listEscapes() {
        fx.dir.write("lists/ood-a.txt", "a/1.jpg -1\n../../etc/passwd -1\n/etc/shadow -1\nhttps://example.com/x.jpg -1\n")
        let problems = fx.problems(Fixture.yaml)
        #expect(problems.count == 2)
        #expect(problems.map(\.line) == [2, 3])
        #expect(problems.allSatisfy { $0.path == "ood[0].images" })
        let allowed = Fixture.yaml.replacingOccurrences(of: "allow_outside_root: false", with: "allow_outside_root: true")
        #expect(fx.problems(allowed).isEmpty)
    }

    @Test("inconsistent files: D, label count, C across sources, permutation length and content")
    func inconsistentFiles() {
        fx.dir.matrix("feat/ood-b.npy", rows: 6, cols: 5)              // D = 5, model says 4
        let d = fx.problems(Fixture.yaml)
        #expect(d.map(\.path) == ["ood[1].features"])
        #expect(d.count == 1)
        #expect(d.first?.message.contains("D = 5") == true)

        let fx2 = Fixture()
        fx2.dir.ints("labels.npy", [0, 1, 2])                           // 3 labels for 4 rows
        fx2.dir.matrix("feat/text.npy", rows: 9, cols: 4)                // C would be 4
        let problems = fx2.problems(minimalFeatures.replacingOccurrences(of: "labels: labels.npy", with: "labels: labels.npy\n  classes: classes.txt"))
        #expect(Set(problems.map(\.path)) == ["id.labels", "negatives.text_features"], "\(problems.map(\.description))")
        #expect(problems.contains { $0.message.contains("3 labels but the features have 4 rows") })
        #expect(problems.contains { $0.message.contains("gives 4 ID classes") })

        let fx3 = Fixture()
        fx3.dir.ints("perm.npy", [0, 1, 2, 3])
        #expect(fx3.problems(Fixture.yaml).first?.message.contains("has 4 indices") == true)
        fx3.dir.ints("perm.npy", [0, 1, 1, 3, 4])
        #expect(fx3.problems(Fixture.yaml).first?.message.contains("not a permutation") == true)
        fx3.dir.write("perm.npy", "not numpy")
        #expect(fx3.problems(Fixture.yaml).first?.message.contains("not a .npy file") == true)
    }

    @Test("a malformed lexicon line is reported with its line number")
    func badLexicon() {
        fx.dir.write("lexicon.txt", "apple\tnoun\nshiny adj\n\nrun\tverb\n")
        let yaml = Fixture.yaml.replacingOccurrences(of: "  count: 5\n", with: "  count: 5\n  lexicon: lexicon.txt\n")
        let problems = fx.problems(yaml)
        #expect(problems.map(\.line) == [2, 4])
        #expect(problems.allSatisfy { $0.path == "negatives.lexicon" })
    }

    @Test("YAML syntax errors and duplicate keys carry a line")
    func syntaxErrors() {
        let bad = fx.problems("name: x\nid: {features: a\nood: [\n")
        #expect(bad.count == 1)
        #expect(bad.first?.message.hasPrefix("not valid YAML") == true)
        #expect(bad.first?.line != nil)
        let dup = fx.problems("name: x\nseed: 1\nseed: 2\n")
        #expect(dup.first?.message.contains("duplicate key 'seed'") == true)
        #expect(dup.first?.line == 2 || dup.first?.line == 3)
        let notMapping = fx.problems("- just\n- a list\n")
        #expect(notMapping.first?.message.contains("expected a mapping") == true)
        #expect(fx.problems("").first?.message == "the spec is empty")
    }

    @Test("problems come in the order of the spec's lines, whatever check found them")
    func sortedByLine() {
        let yaml = """
        name: bad name
        id: {features: feat/id.npy, labels: labels.npy}
        ood:
          - {name: b, features: feat/nothere.npy}
        negatives: {count: 5, text_features: feat/text.npy}
        scoring: {thres: 3}
        modle: x
        """
        let problems = fx.problems(yaml)
        #expect(problems.map(\.path) == ["name", "ood[0].features", "scoring.thres", "modle"])
        #expect(problems.map(\.line) == [1, 4, 6, 7])
    }

    @Test("image sources: both list and folders, neither, or a list")
    func imageSourceShapes() {
        let base = "name: x\nmodel: m\ndata_root: r\nood: [{name: o, features: f.npy}]\nid:\n  classes: c.txt\n"
        let both = fx.problems(base + "  images: {list: a.txt, folders: d}", checkFiles: false)
        #expect(both.map(\.path) == ["id.images"])
        #expect(both.first?.message.contains("not both") == true)
        let neither = fx.problems(base + "  images: {}", checkFiles: false)
        #expect(neither.map(\.path) == ["id.images"])
        let list = fx.problems(base + "  images: [a.txt]", checkFiles: false)
        #expect(list.map(\.path) == ["id.images"])
        #expect(list.first?.message.contains("expected a mapping (an image-list path, or {list: FILE} or {folders: DIR})") == true)
        let typo = fx.problems(base + "  images: {folder: d}", checkFiles: false)
        #expect(typo.first?.message.contains("did you mean 'folders'?") == true)
    }

    @Test("permutation values: a negative seed or a float is refused")
    func badPermutation() {
        for value in ["-3", "2.5", "[1, 2]"] {
            let problems = fx.problems(minimalFeatures.replacingOccurrences(of: "count: 5,", with: "count: 5, permutation: \(value),"), checkFiles: false)
            #expect(problems.map(\.path) == ["negatives.permutation"], "\(value)")
        }
    }

    @Test("features files: not .npy, truncated, integer, not 2-D")
    func badFeatureFiles() throws {
        fx.dir.write("feat/ood-b.npy", "garbage")
        #expect(fx.problems(minimalFeatures).first?.message.contains("not a .npy file") == true)
        // Truncated: a header promising 6 × 4 floats over fewer bytes.
        let full = try Data(contentsOf: URL(fileURLWithPath: fx.dir.matrix("feat/ood-b.npy", rows: 6, cols: 4)))
        try full.prefix(full.count - 8).write(to: URL(fileURLWithPath: fx.dir.path + "/feat/ood-b.npy"))
        #expect(fx.problems(minimalFeatures).first?.message.contains("truncated") == true)
        fx.dir.ints("feat/ood-b.npy", [1, 2, 3])
        let problems = fx.problems(minimalFeatures)
        #expect(problems.map(\.path) == ["ood[0].features"])
        #expect(problems.first?.message.contains("expected an N × D matrix, found shape [3]") == true)
    }

    @Test("the error's description names the file and lists each problem with its line")
    func errorDescription() {
        let error = JobSpecError(file: "jobs/x.yaml", problems: [
            JobSpecProblem(path: "scoring.thres", line: 12, message: "thres must be in [0, 1] (got 2.0)"),
            JobSpecProblem(path: "id.images", line: 7, message: "malformed line", file: "list.txt"),
        ])
        #expect(error.description == """
        jobs/x.yaml: 2 problems:
          line 12: scoring.thres: thres must be in [0, 1] (got 2.0)
          list.txt:7: id.images: malformed line
        """)
    }

    @Test("load reports an unreadable spec file")
    func unreadableSpec() {
        #expect(throws: JobSpecError.self) { try JobSpecLoader.load(path: "/nonexistent/job.yaml") }
    }
}
