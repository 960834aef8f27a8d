import AdaNeg
import Foundation
import NPY
import Testing
@testable import JobSpec

/// Every number a job spec brings has a documented range (`JobSpec.Limits`,
/// `ScoringParameters.Limits`); values outside it are problems at their key, never a trap
/// later in planning or in a worker (issue 13: Int.max batch sizes killed the coordinator).
@Suite("Job spec limits")
struct LimitsTests {
    let fx = Fixture()

    @Test("Int.max batch_size, unit_batches and sync_every are refused at their keys")
    func overflowingSizes() {
        let max = Int.max
        let yaml = minimalFeatures + "\nscoring: {batch_size: \(max)}\nunit_batches: \(max)\nsync_every: \(max)\n"
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(Set(problems.map(\.path)) == ["scoring.batch_size", "unit_batches", "sync_every"])
        #expect(problems.first { $0.path == "scoring.batch_size" }?.message == "batch_size must be at most 65536 (got \(max))")
        #expect(problems.first { $0.path == "unit_batches" }?.message == "must be at most 100000 (got \(max))")
    }

    @Test("a unit of unit_batches × batch_size beyond one completion is refused, though each fits")
    func unitSize() {
        let yaml = minimalFeatures + "\nscoring: {batch_size: 65536}\nunit_batches: 100000\n"
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(problems.map(\.path) == ["unit_batches"])
        #expect(problems.first?.message.contains("6553600000 samples per unit") == true)
    }

    @Test("memleng of Int.max and of a million are refused", arguments: [Int.max, 1_000_000, 1025])
    func hugeMemleng(value: Int) {
        let problems = fx.problems(minimalFeatures + "\nscoring: {memleng: \(value)}\n", checkFiles: false)
        #expect(problems.map(\.path) == ["scoring.memleng"])
        #expect(problems.first?.message == "memleng must be at most 1024 (got \(value))")
    }

    @Test("the largest accepted values load")
    func edges() throws {
        let yaml = minimalFeatures + "\nscoring: {memleng: 1024, batch_size: 65536, beta: 100, logit_scale: 1000}\nunit_batches: 1\nsync_every: 100000\n"
        let spec = try fx.parse(yaml, checkFiles: false)
        #expect(spec.unitSize == 65536 && spec.scoring.memoryLength == 1024)
    }

    @Test("floats beyond their range: beta, lambda, logit_scale")
    func floats() {
        let yaml = minimalFeatures + "\nscoring: {beta: 1e300, lambda: 1e30, logit_scale: 1e38}\n"
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(Set(problems.map(\.path)) == ["scoring.beta", "scoring.lambda", "scoring.logit_scale"])
    }

    @Test("counts and image sides: negatives.count, num_classes, resize, crop")
    func counts() {
        let yaml = minimalFeatures.replacingOccurrences(of: "negatives: {count: 5,", with: "negatives: {count: 9223372036854775807,")
            .replacingOccurrences(of: "  features: feat/id.npy", with: "  num_classes: 9223372036854775807\n  features: feat/id.npy")
            + "\npreprocessing: {resize: 9223372036854775807, crop: 100000}\n"
        let problems = fx.problems(yaml, checkFiles: false)
        #expect(Set(problems.map(\.path)) == ["negatives.count", "id.num_classes", "preprocessing.resize", "preprocessing.crop"])
    }

    @Test("a features file whose header declares an absurd shape is a problem, not a crash")
    func absurdHeader() throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)])
        d.append(Data(header.utf8))
        try d.write(to: URL(fileURLWithPath: fx.dir.path + "/feat/ood-b.npy"))
        let problems = fx.problems(minimalFeatures)
        #expect(problems.map(\.path) == ["ood[0].features"])
        #expect(problems.first?.message.contains("larger than any file can hold") == true)
    }
}
