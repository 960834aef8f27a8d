import Foundation
import Tensor
import NPY
import Testing
@testable import AdaNeg

@Suite("score-features command")
struct ScoreFeaturesCLITests {
    static let data = SyntheticBenchmark(
        shape: .init(classes: 10, negatives: 42, dimension: 16, idSamples: 120, oodSamples: 80), seed: 3)

    /// Writes image.npy, text.npy, labels.npy for one stream into `scratch`.
    func writeInputs(_ scratch: Scratch) throws {
        let (features, labels) = Self.data.stream(for: .covered, seed: 1)
        try NPYFile.writeMatrix(features.storage, rows: features.rows, cols: 16, to: scratch.path("image.npy"))
        try NPYFile.writeMatrix(Self.data.text.storage, rows: Self.data.text.rows, cols: 16, to: scratch.path("text.npy"))
        try NPYFile.write(.int64(labels, shape: [labels.count]), to: scratch.path("labels.npy"))
    }

    func arguments(_ s: Scratch, _ extra: [String] = []) -> [String] {
        ["score-features", "--image-features", s.path("image.npy"), "--text-features", s.path("text.npy"),
         "--num-id", "10", "--out", s.path("scores.csv"), "--batch-size", "32", "--memleng", "4"] + extra
    }

    @Test("writes one CSV row per sample with the in-process scorer's numbers, and prints metrics")
    func happyPath() throws {
        let s = try Scratch()
        try writeInputs(s)
        let result = try CLI.run(arguments(s, ["--labels", s.path("labels.npy"), "--proxy", "sample", "--seed", "4"]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("NegLabel") && result.stdout.contains("AdaNeg (sample)") && result.stdout.contains("AUROC"))
        let lines = try String(contentsOfFile: s.path("scores.csv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "index,pred,conf,conf_vanilla,mcm")
        #expect(lines.count == 201)

        var p = ScoringParameters()
        p.batchSize = 32
        p.memoryLength = 4
        p.proxy = .sample
        var scorer = try AdaNegScorer(text: Self.data.text.rowNormalized(), numID: 10, parameters: p, permutation: .seed(4))
        let expected = try scorer.scoreStream(Self.data.stream(for: .covered, seed: 1).features.rowNormalized())
        for (line, e) in zip(lines.dropFirst(), expected) {
            let f = line.split(separator: ",")
            #expect(Int(f[1]) == e.pred && Float(f[2]) == e.conf && Float(f[3]) == e.confVanilla && Float(f[4]) == e.mcm)
        }
    }

    @Test("a non-finite image feature row is that sample's error, named; the other rows are scored and no NaN is written")
    func nonFiniteImageRows() throws {
        let s = try Scratch()
        try writeInputs(s)
        let (features, _) = Self.data.stream(for: .covered, seed: 1)
        var values = features.storage
        values[7 * 16 + 3] = .nan
        values[9 * 16] = -.infinity
        try NPYFile.writeMatrix(values, rows: features.rows, cols: 16, to: s.path("image.npy"))
        let result = try CLI.run(arguments(s, ["--labels", s.path("labels.npy")]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("image.npy: row 7 (and 1 other row) of image features is not finite"), "\(result.stderr)")
        let csv = try String(contentsOfFile: s.path("scores.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 201)
        #expect(lines[8] == "7,-1,,," && lines[10] == "9,-1,,,")
        #expect(!csv.lowercased().contains("nan") && !csv.lowercased().contains("inf"))
        #expect(lines.dropFirst().filter { $0.hasSuffix(",-1,,,") }.count == 2, "only the two bad rows are unscored")
        #expect(result.stdout.contains("AUROC"))
    }

    @Test("features that are not unit length are normalised with one warning")
    func normalisesWithWarning() throws {
        let s = try Scratch()
        try writeInputs(s)
        let (features, _) = Self.data.stream(for: .covered, seed: 1)
        var scaled = features.storage
        for i in 0..<(5 * 16) { scaled[i] *= 3 }
        try NPYFile.writeMatrix(scaled, rows: features.rows, cols: 16, to: s.path("image.npy"))
        let result = try CLI.run(arguments(s))
        #expect(result.status == 0)
        #expect(result.stderr.contains("5 of 200 image features rows were not L2-normalised"))
    }

    /// Every bad input: exit status 2, a message naming the file and the problem, no output.
    @Test("bad input is refused with status 2, a precise message and no output file", arguments: BadInput.allCases)
    func badInput(_ bad: BadInput) throws {
        let s = try Scratch()
        try writeInputs(s)
        let extra = try bad.prepare(s)
        let result = try CLI.run(arguments(s, extra).map { $0 == "--num-id" ? "--num-id" : $0 }.replacingNumID(bad))
        #expect(result.status == 2, "\(bad): status \(result.status), stderr: \(result.stderr)")
        for fragment in bad.expectedFragments(s) {
            #expect(result.stderr.contains(fragment), "\(bad): stderr was \(result.stderr)")
        }
        #expect(!s.exists("scores.csv"))
    }

    @Test("a failed run leaves an existing output file untouched")
    func keepsExistingOutput() throws {
        let s = try Scratch()
        try writeInputs(s)
        try "previous results\n".write(toFile: s.path("scores.csv"), atomically: true, encoding: .utf8)
        let result = try CLI.run(arguments(s, ["--num-id", "999"]))
        #expect(result.status == 2)
        #expect(try String(contentsOfFile: s.path("scores.csv"), encoding: .utf8) == "previous results\n")
    }
}

enum BadInput: String, CaseIterable, CustomStringConvertible {
    case dimensionMismatch, nanValue, infiniteValue, permutationWrongLength, notAPermutation
    case numIDTooLarge, badMagic, truncated, fortranOrder, unsupportedDType, labelsWrongCount, labelOutOfRange
    case missingFile

    var description: String { rawValue }

    /// Breaks the inputs in `s`; returns extra arguments.
    func prepare(_ s: Scratch) throws -> [String] {
        let image = s.path("image.npy")
        switch self {
        case .dimensionMismatch:
            try NPYFile.writeMatrix([Float](repeating: 0.25, count: 200 * 15), rows: 200, cols: 15, to: image)
        case .nanValue, .infiniteValue:
            // In the label text features: refused whole (an image row is one sample's error).
            let text = s.path("text.npy")
            var (rows, cols, values) = try NPYFile.readMatrix(text)
            values[7 * cols + 3] = self == .nanValue ? .nan : .infinity
            try NPYFile.writeMatrix(values, rows: rows, cols: cols, to: text)
            _ = rows
        case .permutationWrongLength:
            try NPYFile.write(.int64(Array(0..<39), shape: [39]), to: s.path("perm.npy"))
            return ["--perm", s.path("perm.npy")]
        case .notAPermutation:
            var p = Array(0..<40)
            p[10] = 11
            try NPYFile.write(.int64(p, shape: [40]), to: s.path("perm.npy"))
            return ["--perm", s.path("perm.npy")]
        case .numIDTooLarge:
            return ["--num-id", "52"]
        case .badMagic:
            try Data("this is not numpy".utf8).write(to: URL(fileURLWithPath: image))
        case .truncated:
            let d = try Data(contentsOf: URL(fileURLWithPath: image))
            try d.prefix(d.count - 100).write(to: URL(fileURLWithPath: image))
        case .fortranOrder, .unsupportedDType:
            let d = try Data(contentsOf: URL(fileURLWithPath: image))
            let text = String(data: d, encoding: .isoLatin1) ?? ""
            let edited = self == .fortranOrder
                ? text.replacingOccurrences(of: "'fortran_order': False", with: "'fortran_order': True ")
                : text.replacingOccurrences(of: "'<f4'", with: "'<c8'")
            try edited.data(using: .isoLatin1)?.write(to: URL(fileURLWithPath: image))
        case .labelsWrongCount:
            try NPYFile.write(.int64([Int](repeating: -1, count: 199), shape: [199]), to: s.path("labels.npy"))
            return ["--labels", s.path("labels.npy")]
        case .labelOutOfRange:
            var labels = [Int](repeating: -1, count: 200)
            labels[17] = 10
            try NPYFile.write(.int64(labels, shape: [200]), to: s.path("labels.npy"))
            return ["--labels", s.path("labels.npy")]
        case .missingFile:
            try FileManager.default.removeItem(atPath: s.path("text.npy"))
        }
        return []
    }

    func expectedFragments(_ s: Scratch) -> [String] {
        switch self {
        case .dimensionMismatch: ["image.npy", "15-dimensional", "text.npy", "16"]
        case .nanValue: ["text.npy", "row 7, column 3", "nan"]
        case .infiniteValue: ["text.npy", "row 7, column 3", "inf"]
        case .permutationWrongLength: ["perm.npy", "39 entries", "40"]
        case .notAPermutation: ["perm.npy", "entry 11", "exactly once"]
        case .numIDTooLarge: ["--num-id 52", "52 label rows"]
        case .badMagic: ["image.npy", "not a .npy file"]
        case .truncated: ["image.npy", "truncated"]
        case .fortranOrder: ["image.npy", "Fortran"]
        case .unsupportedDType: ["image.npy", "'<c8'"]
        case .labelsWrongCount: ["labels.npy", "199 labels for 200"]
        case .labelOutOfRange: ["labels.npy", "label 17 is 10"]
        case .missingFile: ["text.npy", "cannot read"]
        }
    }
}

extension Array where Element == String {
    /// `--num-id` given twice: ArgumentParser keeps the last value, so the override wins.
    func replacingNumID(_ bad: BadInput) -> [String] { self }
}
