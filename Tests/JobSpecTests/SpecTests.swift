import AdaNeg
import Foundation
import Testing
@testable import JobSpec

@Suite("Job spec: decoding")
struct SpecTests {
    @Test("a full spec decodes every key, with paths made absolute against the spec's folder")
    func fullSpec() throws {
        let fx = Fixture()
        let spec = try fx.parse()
        let d = fx.dir.path
        #expect(spec.name == "full-job")
        #expect(spec.model == d + "/model")
        #expect(spec.dataRoot == d + "/images")
        #expect(spec.allowOutsideRoot == false)
        #expect(spec.id.classes == d + "/classes.txt")
        #expect(spec.id.images == .list(d + "/lists/id.txt"))
        #expect(spec.id.numClasses == 3)   // derived from the classes file
        #expect(spec.ood.count == 2)
        #expect(spec.ood[0] == OODSetSpec(name: "a", group: .near, data: DatasetSpec(images: .list(d + "/lists/ood-a.txt"))))
        #expect(spec.ood[1] == OODSetSpec(name: "b", group: .far, data: DatasetSpec(features: d + "/feat/ood-b.npy")))
        #expect(spec.negatives == NegativesSpec(count: 5, permutation: .file(d + "/perm.npy")))
        var expected = ScoringParameters()
        expected.memoryLength = 4
        expected.threshold = 0.4
        expected.gap = 0.3
        expected.beta = 5.5
        expected.lambda = 0.2
        expected.groups = 5
        expected.batchSize = 2
        expected.proxy = .sample
        expected.inScore = .multiply
        expected.replacement = .first
        expected.variant = .adagap
        expected.logitScale = 50
        #expect(spec.scoring == expected)
        #expect(spec.preprocessing == Preprocessing(resize: 256, crop: 224))
        #expect(spec.seed == 42)
        #expect(spec.unitBatches == 3)
        #expect(spec.syncEvery == 2)
        #expect(spec.keepFeatures == false)
        #expect(spec.unitSize == 6)
        #expect(spec.specText == Fixture.yaml)
        #expect(spec.hasImages)
    }

    @Test("canonicalYAML round-trips a full spec to an equal spec")
    func roundTrip() throws {
        let fx = Fixture()
        let spec = try fx.parse()
        let text = spec.canonicalYAML()
        var again = try JobSpecLoader.parse(yaml: text, baseDirectory: "/elsewhere")   // paths are absolute now
        #expect(again.specText == text)
        again.specText = spec.specText
        #expect(again == spec)
        // And a second pass is a fixed point.
        #expect(again.canonicalYAML() == text)
    }

    @Test("round trip keeps folders, seeds, 'none', odd strings and the job-seed permutation")
    func roundTripVariants() throws {
        for permutation in ["7", "none", "seed", "18446744073709551615", "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"] {
            let yaml = """
            name: "123"
            model: "null"
            id: {images: {folders: "true"}}
            ood: [{name: "yes", images: {folders: dir}}]
            negatives: {count: 10, permutation: \(permutation)}
            seed: 18446744073709551615
            """
            let spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: "/base", checkFiles: false)
            #expect(spec.name == "123")
            #expect(spec.model == "/base/null")
            #expect(spec.id.images == .folders("/base/true"))
            #expect(spec.ood[0].name == "yes")
            #expect(spec.seed == UInt64.max)
            var again = try JobSpecLoader.parse(yaml: spec.canonicalYAML(), baseDirectory: "/", checkFiles: false)
            again.specText = spec.specText
            #expect(again == spec)
        }
        let p = { (v: String) in
            try JobSpecLoader.parse(yaml: "name: x\nmodel: m\nseed: 42\nid: {classes: c, images: l}\ndata_root: r\nood: [{name: o, images: l}]\nnegatives: {permutation: \(v)}",
                                    baseDirectory: "/b", checkFiles: false).negatives.permutation
        }
        #expect(try p("7") == .seed(7))
        #expect(try p("none") == PermutationSource.none)
        #expect(try p("false") == PermutationSource.none)
        // The job's seed, resolved when the spec is read.
        #expect(try p("seed") == .seed(42))
        // `true` names no order: refused, with the values that are allowed.
        #expect(throws: JobSpecError.self) { try p("true") }
        #expect(try p("perm.npy") == .file("/b/perm.npy"))
        // Inline indices: a permutation of count − count mod groups (10000 here) or refused.
        #expect(try p("[\((0..<10000).reversed().map(String.init).joined(separator: ", "))]") == .given(Array((0..<10000).reversed())))
        #expect(throws: JobSpecError.self) { try p("[2, 0, 1]") }
        #expect(throws: JobSpecError.self) { try p("[2, -1]") }
        #expect(throws: JobSpecError.self) { try p("[a]") }
    }

    @Test("defaults: everything optional takes the documented default")
    func defaults() throws {
        let yaml = """
        name: d
        id: {features: f.npy, labels: l.npy}
        ood: [{name: o, features: o.npy}]
        negatives: {text_features: t.npy}
        """
        let spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: "/jobs", checkFiles: false)
        #expect(spec.model == nil)
        #expect(spec.dataRoot == nil)
        #expect(spec.allowOutsideRoot == false)
        #expect(spec.negatives.count == 10000)
        #expect(spec.negatives.permutation == .seed(spec.seed))
        #expect(spec.negatives.lexicon == nil)
        #expect(spec.scoring == ScoringParameters())
        #expect(spec.scoring.memoryLength == 10 && spec.scoring.batchSize == 256 && spec.scoring.beta == 5)
        #expect(spec.preprocessing == Preprocessing(resize: nil, crop: nil))
        #expect(spec.seed == 0)
        #expect(spec.unitBatches == 8)
        #expect(spec.syncEvery == 1)
        #expect(spec.keepFeatures == true)
        #expect(spec.ood[0].group == nil)
        #expect(spec.id.numClasses == nil)
        #expect(spec.hasImages == false)
        #expect(spec.id.features == "/jobs/f.npy")
    }

    @Test("null values count as absent; relative paths normalise; ~ expands")
    func nullsAndPaths() throws {
        let yaml = """
        name: n
        model: ~/models/clip
        data_root: ./a/../root/
        id: {classes: ../c.txt, images: l.txt, labels: null}
        ood: [{name: o, group: ~, images: /abs/o.txt}]
        seed: null
        """
        let spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: "/x/jobs", checkFiles: false)
        #expect(spec.model == NSHomeDirectory() + "/models/clip")
        #expect(spec.dataRoot == "/x/jobs/root")
        #expect(spec.id.classes == "/x/c.txt")
        #expect(spec.id.labels == nil)
        #expect(spec.ood[0].group == nil)
        #expect(spec.ood[0].data.images == .list("/abs/o.txt"))
        #expect(spec.seed == 0)
    }

    @Test("load(path:) resolves against the spec file's folder and keeps the text verbatim")
    func loadFromFile() throws {
        let fx = Fixture()
        let path = fx.dir.write("jobs/job.yaml", Fixture.yaml.replacingOccurrences(of: ": model", with: ": ../model")
            .replacingOccurrences(of: "data_root: images", with: "data_root: ../images")
            .replacingOccurrences(of: "classes.txt", with: "../classes.txt")
            .replacingOccurrences(of: "lists/", with: "../lists/")
            .replacingOccurrences(of: "feat/", with: "../feat/")
            .replacingOccurrences(of: "perm.npy", with: "../perm.npy"))
        let spec = try JobSpecLoader.load(path: path)
        #expect(spec.model == fx.dir.path + "/model")
        #expect(spec.id.classes == fx.dir.path + "/classes.txt")
        #expect(spec.specText == (try String(contentsOfFile: path, encoding: .utf8)))
        #expect(spec == (try fx.parse()).withText(spec.specText))
    }

    @Test("a features-only job derives C from text features rows − count")
    func featuresOnly() throws {
        let fx = Fixture()
        let spec = try fx.parse(minimalFeatures)
        #expect(spec.id.numClasses == 3)
        #expect(spec.model == nil)
        #expect(try spec.imageSamples(of: spec.id, isID: true) == nil)
        #expect(try spec.classNames() == nil)
    }

    @Test("a lexicon is accepted when negatives are mined")
    func lexicon() throws {
        let fx = Fixture()
        let yaml = Fixture.yaml.replacingOccurrences(of: "  count: 5\n", with: "  count: 5\n  lexicon: lexicon.txt\n")
        let spec = try fx.parse(yaml)
        #expect(spec.negatives.lexicon == fx.dir.path + "/lexicon.txt")
    }
}

extension JobSpec {
    func withText(_ text: String) -> JobSpec {
        var copy = self
        copy.specText = text
        return copy
    }
}
