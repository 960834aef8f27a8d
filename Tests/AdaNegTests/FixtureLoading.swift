import Foundation
import NPY
import Tensor
@testable import AdaNeg

/// Reads the fixtures that `tools/reference/make_fixtures.py` generated with the independent
/// numpy/scikit-learn reference.
enum Fixtures {
    static var root: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func scoringCases() -> [String] {
        let dir = root.appendingPathComponent("scoring")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted()
    }

    static func metricCases() -> [String] {
        let dir = root.appendingPathComponent("metrics")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    struct ScoringCase {
        var parameters: ScoringParameters
        var numID: Int
        var image: Matrix
        var text: Matrix
        var labels: [Int]
        var permutation: [Int]?
        var expected: [(pred: Int, conf: Double, confVanilla: Double, mcm: Double)]
        var bankCounts: [Int]
    }

    struct Params: Decodable {
        var num_id: Int
    }

    static func loadScoring(_ name: String) throws -> ScoringCase {
        let dir = root.appendingPathComponent("scoring").appendingPathComponent(name)
        func path(_ file: String) -> String { dir.appendingPathComponent(file).path }
        let json = try Data(contentsOf: dir.appendingPathComponent("params.json"))
        let parameters = try JSONDecoder().decode(ScoringParameters.self, from: json)
        let numID = try JSONDecoder().decode(Params.self, from: json).num_id
        let image = try NPYFile.readMatrix(path("image.npy"))
        let text = try NPYFile.readMatrix(path("text.npy"))
        let perm = FileManager.default.fileExists(atPath: path("perm.npy")) ? try NPYFile.readIntegers(path("perm.npy")) : nil
        let csv = try String(contentsOfFile: path("expected.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n").dropFirst().map { line -> (Int, Double, Double, Double) in
            let f = line.split(separator: ",")
            return (Int(f[1])!, Double(f[2])!, Double(f[3])!, Double(f[4])!)
        }
        return ScoringCase(
            parameters: parameters, numID: numID,
            image: Matrix(rows: image.rows, cols: image.cols, storage: image.values),
            text: Matrix(rows: text.rows, cols: text.cols, storage: text.values),
            labels: try NPYFile.readIntegers(path("labels.npy")),
            permutation: perm,
            expected: rows.map { (pred: $0.0, conf: $0.1, confVanilla: $0.2, mcm: $0.3) },
            bankCounts: try NPYFile.readIntegers(path("bank_counts.npy"))
        )
    }

    struct MetricCase: Decodable {
        var conf: [Double]
        var labels: [Int]
        var pred: [Int]
        var fpr95: Double
        var fpr95_id_positive: Double
        var auroc: Double
        var aupr_in: Double
        var aupr_out: Double
        var acc: Double
    }

    static func loadMetrics(_ name: String) throws -> MetricCase {
        let data = try Data(contentsOf: root.appendingPathComponent("metrics").appendingPathComponent("\(name).json"))
        return try JSONDecoder().decode(MetricCase.self, from: data)
    }
}
