import AdaNeg
import Foundation
import NPY
import Testing

/// A file changed after submission is never scored under the job's names: `rescore` and
/// `report --compare-sequential` refuse it (exit 2, naming the file), and float16 feature files
/// run through `adaneg run` as `score-features` reads them.
@Suite("Inputs changed since submission, from the command line")
struct InputDigestCLITests {
    static let shape = SyntheticBenchmark.Shape(classes: 8, negatives: 40, dimension: 16, idSamples: 160, oodSamples: 120)

    static func yaml(_ name: String) -> String {
        """
        name: \(name)
        id: {num_classes: 8, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood-covered.npy}
          - {name: near-id, features: ood-near-id.npy}
        negatives: {count: 40, text_features: text.npy}
        scoring: {batch_size: 40, memleng: 4}
        unit_batches: 2
        """
    }

    @Test("rescore and report --compare-sequential refuse a feature file or labels changed since submission, naming the file")
    func rescoreAndReportRefuseChangedFiles() throws {
        let s = try Scratch()
        try DemoFiles.write(SyntheticBenchmark(shape: Self.shape, seed: 4), to: s)
        try Self.yaml("digests").write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        let db = s.path("run.sqlite")
        let run = try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        let original = try Data(contentsOf: URL(fileURLWithPath: s.path("ood-covered.npy")))

        // Another OOD set of the same size under the covered set's name.
        try Data(contentsOf: URL(fileURLWithPath: s.path("ood-near-id.npy"))).write(to: URL(fileURLWithPath: s.path("ood-covered.npy")))
        let rescore = try CLI.run(["rescore", "--db", db, "digests", "--memleng", "2", "--workers", "1"])
        #expect(rescore.status == 2, "\(rescore.stdout)\(rescore.stderr)")
        #expect(rescore.stderr.contains("\(s.path("ood-covered.npy")) changed since submission"), "\(rescore.stderr)")
        let report = try CLI.run(["report", "--db", db, "digests", "--compare-sequential"])
        #expect(report.status == 2, "\(report.stdout)\(report.stderr)")
        #expect(report.stderr.contains("\(s.path("ood-covered.npy")) changed since submission"), "\(report.stderr)")

        // Put back: the comparison runs.
        try original.write(to: URL(fileURLWithPath: s.path("ood-covered.npy")))
        let restored = try CLI.run(["report", "--db", db, "digests", "--compare-sequential"])
        #expect(restored.status == 0, "\(restored.stderr)")

        // Labels: the same count, two swapped.
        var labels = try NPYFile.readIntegers(s.path("id-labels.npy"))
        let other = try #require(labels.firstIndex { $0 != labels[0] })
        labels.swapAt(0, other)
        try NPYFile.write(.int64(labels, shape: [labels.count]), to: s.path("id-labels.npy"))
        let relabelled = try CLI.run(["rescore", "--db", db, "digests", "--memleng", "2", "--workers", "1"])
        #expect(relabelled.status == 2, "\(relabelled.stdout)\(relabelled.stderr)")
        #expect(relabelled.stderr.contains("\(s.path("id-labels.npy")) changed since submission"), "\(relabelled.stderr)")
    }

    @Test("float16 feature files run through `adaneg run` with the metrics of float32 files holding the same values")
    func float16ThroughRun() throws {
        var tables = [String]()
        for dtype in [NPYArray.DType.float16, .float32] {
            let s = try Scratch()
            let data = SyntheticBenchmark(shape: Self.shape, seed: 4)
            try DemoFiles.write(data, to: s)
            for (file, m) in [("id.npy", data.idFeatures)] + data.oodSets.map({ ("ood-\($0.kind.rawValue).npy", $0.features) }) {
                // The float16 values, stored as float16 or widened to float32.
                let halves = m.storage.map { Float16($0) }
                var bytes = Data(count: halves.count * dtype.byteWidth)
                bytes.withUnsafeMutableBytes { raw in
                    for (i, h) in halves.enumerated() {
                        if dtype == .float16 {
                            raw.storeBytes(of: h.bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
                        } else {
                            raw.storeBytes(of: Float(h).bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                        }
                    }
                }
                try NPYFile.write(NPYArray(shape: [m.rows, m.cols], dtype: dtype, data: bytes), to: s.path(file))
            }
            try Self.yaml("halves").write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
            let run = try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", s.path("run.sqlite")])
            #expect(run.status == 0, "\(dtype): \(run.stderr)")
            #expect(!run.stderr.contains("not supported") && !run.stdout.contains("failed"), "\(run.stdout)\(run.stderr)")
            tables.append(run.stdout.split(separator: "\n").filter { $0.contains("covered") || $0.contains("near-id") }.joined(separator: "\n"))
        }
        #expect(!tables[0].isEmpty)
        #expect(tables[0] == tables[1], "float16:\n\(tables[0])\nfloat32:\n\(tables[1])")
    }
}
