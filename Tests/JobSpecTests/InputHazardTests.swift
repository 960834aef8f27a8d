import AdaNeg
import Foundation
import NPY
import Testing
@testable import JobSpec

/// Issue 22 items 6, 9, 13 and 15 at the spec: files that are not regular files, label text
/// features that are not finite, the pixel limit, and values that would make a job meaningless.
@Suite("Spec input hazards")
struct InputHazardTests {
    /// A features job over `dir` (C = 3 from the class names, M = 5).
    static func featuresYAML(_ extra: String = "", id: String = "{classes: classes.txt, features: id.npy, labels: labels.npy}",
                             negatives: String = "{count: 5, text_features: text.npy}") -> String {
        """
        name: hazards
        id: \(id)
        ood:
          - {name: b, features: ood.npy}
        negatives: \(negatives)
        scoring: {groups: 5, batch_size: 2}
        \(extra)
        """
    }

    static func inputs(_ dir: TempDir) {
        dir.write("classes.txt", "cat\ndog\nbird\n")
        dir.matrix("id.npy", rows: 4, cols: 4)
        dir.ints("labels.npy", [0, 1, 2, 1])
        dir.matrix("ood.npy", rows: 6, cols: 4)
        dir.matrix("text.npy", rows: 8, cols: 4)
        dir.ints("perm.npy", [4, 2, 0, 1, 3])
        dir.write("lexicon.txt", "apple\tnoun\n")
    }

    static func problems(_ yaml: String, in dir: TempDir) -> [JobSpecProblem] {
        do {
            _ = try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir.path)
            return []
        } catch {
            return error.problems
        }
    }

    /// Parses on a thread of its own: a parse that blocks on a FIFO is unblocked (the FIFO
    /// opened for writing and closed, so the reader sees its end) and reported, instead of
    /// hanging the test run.
    static func guardedProblems(_ yaml: String, in dir: TempDir, fifo: String) -> (problems: [JobSpecProblem], blocked: Bool) {
        final class Box: @unchecked Sendable { var problems: [JobSpecProblem] = [] }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let path = dir.path
        Thread.detachNewThread {
            do { _ = try JobSpecLoader.parse(yaml: yaml, baseDirectory: path) } catch let error as JobSpecError { box.problems = error.problems } catch {}
            done.signal()
        }
        if done.wait(timeout: .now() + 60) == .success { return (box.problems, false) }
        let fd = open(fifo, O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
        done.wait()
        return (box.problems, true)
    }

    @Test("every file key naming a FIFO or /dev/zero is refused by key, before anything is opened",
          arguments: ["id.classes", "id.features", "id.labels", "ood[0].features", "negatives.text_features", "negatives.permutation", "negatives.lexicon", "id.images", "spec-model"])
    func nonRegularFiles(key: String) throws {
        let dir = TempDir()
        Self.inputs(dir)
        let fifo = dir.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        var yaml: String
        switch key {
        case "id.classes": yaml = Self.featuresYAML(id: "{classes: fifo, features: id.npy, labels: labels.npy}")
        case "id.features": yaml = Self.featuresYAML(id: "{classes: classes.txt, features: fifo, labels: labels.npy}")
        case "id.labels": yaml = Self.featuresYAML(id: "{classes: classes.txt, features: id.npy, labels: fifo}")
        case "ood[0].features": yaml = Self.featuresYAML().replacingOccurrences(of: "features: ood.npy", with: "features: fifo")
        case "negatives.text_features": yaml = Self.featuresYAML(negatives: "{count: 5, text_features: fifo}")
        case "negatives.permutation": yaml = Self.featuresYAML(negatives: "{count: 5, text_features: text.npy, permutation: fifo}")
        case "negatives.lexicon":
            dir.write("model/config.json", #"{"projection_dim": 4}"#)
            for f in ["model.safetensors", "vocab.json", "merges.txt"] { dir.write("model/" + f, "") }
            yaml = "model: model\n" + Self.featuresYAML(negatives: "{count: 5, lexicon: fifo}")
        case "id.images":
            dir.mkdir("images")
            yaml = "data_root: images\nmodel: model\n" + Self.featuresYAML(id: "{classes: classes.txt, images: fifo}")
            dir.write("model/config.json", #"{"projection_dim": 4}"#)
            for f in ["model.safetensors", "vocab.json", "merges.txt"] { dir.write("model/" + f, "") }
        default: // a model folder whose weights are a FIFO
            dir.write("model/config.json", #"{"projection_dim": 4}"#)
            for f in ["vocab.json", "merges.txt"] { dir.write("model/" + f, "") }
            #expect(mkfifo(dir.path + "/model/model.safetensors", 0o600) == 0)
            yaml = "model: model\n" + Self.featuresYAML()
        }
        let target = key == "spec-model" ? dir.path + "/model/model.safetensors" : fifo
        let (problems, blocked) = Self.guardedProblems(yaml, in: dir, fifo: target)
        #expect(!blocked, "\(key): validation blocked on the FIFO")
        let expectedKey = key == "spec-model" ? "model" : key
        let hit = problems.first { $0.path == expectedKey && $0.message.contains(target) && $0.message.contains("is a FIFO, not a regular file") }
        #expect(hit != nil, "\(key): \(problems.map { "\($0.path): \($0.message)" })")
    }

    @Test("/dev/zero as a features or labels file: 'a character device', not 'permission' or a read that never ends")
    func devZero() {
        let dir = TempDir()
        Self.inputs(dir)
        let problems = Self.problems(Self.featuresYAML(id: "{classes: classes.txt, features: /dev/zero, labels: /dev/zero}"), in: dir)
        for key in ["id.features", "id.labels"] {
            #expect(problems.contains { $0.path == key && $0.message.contains("/dev/zero") && $0.message.contains("character device") },
                    "\(key): \(problems.map(\.message))")
        }
        #expect(!problems.contains { $0.message.contains("permission") })
    }

    @Test("label text features with a NaN or ∞ row are refused at submission, naming the row")
    func nonFiniteTextFeatures() throws {
        let dir = TempDir()
        Self.inputs(dir)
        var values = (0..<32).map { Float($0 % 7) / 7 }
        values[6 * 4 + 2] = .nan
        try NPYFile.writeMatrix(values, rows: 8, cols: 4, to: dir.path + "/text.npy")
        let problems = Self.problems(Self.featuresYAML(), in: dir)
        #expect(problems.contains { $0.path == "negatives.text_features" && $0.message.contains("row 6 of") && $0.message.contains("not finite") },
                "\(problems.map(\.message))")
        values[6 * 4 + 2] = .infinity
        try NPYFile.writeMatrix(values, rows: 8, cols: 4, to: dir.path + "/text.npy")
        #expect(Self.problems(Self.featuresYAML(), in: dir).contains { $0.message.contains("row 6 of") })
    }

    @Test("max_pixels: accepted in range, kept by the canonical form, refused out of range")
    func maxPixels() throws {
        let dir = TempDir()
        Self.inputs(dir)
        let spec = try JobSpecLoader.parse(yaml: Self.featuresYAML("max_pixels: 1000000"), baseDirectory: dir.path)
        #expect(spec.maxPixels == 1_000_000)
        let again = try JobSpecLoader.parse(yaml: spec.canonicalYAML(), baseDirectory: "/")
        #expect(again.maxPixels == 1_000_000)
        #expect(try JobSpecLoader.parse(yaml: Self.featuresYAML(), baseDirectory: dir.path).maxPixels == nil)
        for bad in ["0", "-5", "2000000000", "lots"] {
            #expect(Self.problems(Self.featuresYAML("max_pixels: \(bad)"), in: dir).contains { $0.path == "max_pixels" }, "max_pixels: \(bad)")
        }
    }

    @Test("permutation: true is refused with the values that are allowed; false keeps the file order")
    func permutationTrue() throws {
        let dir = TempDir()
        Self.inputs(dir)
        let problems = Self.problems(Self.featuresYAML(negatives: "{count: 5, text_features: text.npy, permutation: true}"), in: dir)
        let p = try #require(problems.first { $0.path == "negatives.permutation" })
        #expect(p.message.contains("'true' is not a permutation") && p.message.contains("'none'") && p.message.contains("seed"))
        let spec = try JobSpecLoader.parse(yaml: Self.featuresYAML(negatives: "{count: 5, text_features: text.npy, permutation: false}"), baseDirectory: dir.path)
        #expect(spec.negatives.permutation == PermutationSource.none)
    }

    @Test("negatives.count that leaves more ID classes than the labels use is said, naming the key and the fix; num_classes confirms C")
    func negativesCountBeyondLabels() throws {
        let dir = TempDir()
        Self.inputs(dir)
        // 8 text rows, count 3: C = 5, but the labels use 0..<3.
        let noClasses = "{features: id.npy, labels: labels.npy}"
        let spec = try JobSpecLoader.parse(yaml: Self.featuresYAML(id: noClasses, negatives: "{count: 3, text_features: text.npy}")
            .replacingOccurrences(of: "groups: 5", with: "groups: 3"), baseDirectory: dir.path)
        let w = try #require(spec.warnings.first { $0.hasPrefix("negatives.count") }, "\(spec.warnings)")
        #expect(w.contains("C = 5") && w.contains("0..<3") && w.contains("negatives.count to 5") && w.contains("id.num_classes: 5"), "\(w)")
        // C given explicitly: the ID set may lack classes, nothing to say.
        let confirmed = Self.featuresYAML(id: "{num_classes: 5, features: id.npy, labels: labels.npy}", negatives: "{count: 3, text_features: text.npy}")
            .replacingOccurrences(of: "groups: 5", with: "groups: 3")
        #expect(try JobSpecLoader.parse(yaml: confirmed, baseDirectory: dir.path).warnings.isEmpty)
        // The labels' range matches C.
        #expect(try JobSpecLoader.parse(yaml: Self.featuresYAML(id: noClasses), baseDirectory: dir.path).warnings.isEmpty)
    }

    @Test("batch_size 65536 with the default unit_batches is blamed on batch_size (the key the user wrote), saying the default and the fix")
    func batchSizeWithDefaultUnitBatches() {
        let dir = TempDir()
        Self.inputs(dir)
        let problems = Self.problems(Self.featuresYAML().replacingOccurrences(of: "batch_size: 2}", with: "batch_size: 65536}"), in: dir)
        #expect(problems.map(\.path) == ["scoring.batch_size"], "\(problems.map { "\($0.path): \($0.message)" })")
        let message = problems.first?.message ?? ""
        #expect(message.contains("unit_batches 8 (the default)") && message.contains("524288 samples per unit") && message.contains("set unit_batches to at most 1"), "\(message)")
        // Given explicitly, unit_batches is the key named.
        let explicit = Self.problems(Self.featuresYAML("unit_batches: 2").replacingOccurrences(of: "batch_size: 2}", with: "batch_size: 65536}"), in: dir)
        #expect(explicit.map(\.path) == ["unit_batches"])
    }

    @Test("logit_scale: above 1000 refused (scores saturate), above 100 accepted with a warning")
    func logitScale() throws {
        let dir = TempDir()
        Self.inputs(dir)
        let refused = Self.problems(Self.featuresYAML().replacingOccurrences(of: "batch_size: 2}", with: "batch_size: 2, logit_scale: 5000}"), in: dir)
        #expect(refused.contains { $0.path == "scoring.logit_scale" && $0.message.contains("1000") }, "\(refused.map(\.message))")
        let warned = try JobSpecLoader.parse(yaml: Self.featuresYAML().replacingOccurrences(of: "batch_size: 2}", with: "batch_size: 2, logit_scale: 500}"),
                                             baseDirectory: dir.path)
        #expect(warned.warnings.count == 1 && warned.warnings[0].contains("scoring.logit_scale 500"), "\(warned.warnings)")
        #expect(try JobSpecLoader.parse(yaml: Self.featuresYAML(), baseDirectory: dir.path).warnings.isEmpty)
    }
}
