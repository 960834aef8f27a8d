import AdaNeg
import ArgumentParser
import Foundation

/// `adaneg demo`: the embedded default, end to end on data the project generates.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate synthetic CLIP-like data and score it with MCM, NegLabel and AdaNeg (task and sample proxies).",
        discussion: """
        The data are SYNTHETIC: C ID classes and M negative labels on the unit sphere, image \
        features around their class with a CLIP-like modality gap, and three OOD sets (covered \
        by negative labels, uncovered by any label, near-ID). The numbers show how the methods \
        behave; they are not ImageNet results.
        """
    )

    @Option(help: "Seed for the data and the stream order.") var seed: UInt64 = 0
    @Option(help: "C, ID classes.") var classes: Int = SyntheticBenchmark.Shape.demo.classes
    @Option(help: "M, negative labels.") var negatives: Int = SyntheticBenchmark.Shape.demo.negatives
    @Option(help: "D, feature dimension.") var dim: Int = SyntheticBenchmark.Shape.demo.dimension
    @Option(help: "ID samples.") var idSamples: Int = SyntheticBenchmark.Shape.demo.idSamples
    @Option(help: "Samples per OOD set.") var oodSamples: Int = SyntheticBenchmark.Shape.demo.oodSamples
    @OptionGroup var scoring: ScoringOptions

    func run() throws {
        let parameters = scoring.parameters
        let problems = parameters.problems()
        guard problems.isEmpty else { throw CommandFailure("invalid options: " + problems.joined(separator: "; ")) }
        let shape = SyntheticBenchmark.Shape(classes: classes, negatives: negatives, dimension: dim,
                                             idSamples: idSamples, oodSamples: oodSamples)
        print("adaneg demo — SYNTHETIC data (not real images): C = \(classes) ID classes, M = \(negatives) negative labels, D = \(dim), \(idSamples) ID samples, \(oodSamples) per OOD set, seed \(seed)")
        let started = Date()
        let data = SyntheticBenchmark(shape: shape, seed: seed)
        let result = try failing("demo") { try DemoRun(data: data, parameters: parameters, seed: seed).run() }
        print()
        print(MetricsTable.paper(sets: result.sets + ["Average"], methods: DemoRun.methods) { method, set in
            set == "Average" ? OODMetrics.mean(result.sets.compactMap { result.metrics[$0]?[method] }) : result.metrics[set]?[method]
        }, terminator: "")
        print("\nFPR95 in % (OpenOOD convention: ID flagged OOD at 95% OOD recall), AUROC in %.")
        let acc = result.sets.compactMap { result.metrics[$0]?["AdaNeg (task)"]?.accuracy }
        if !acc.isEmpty {
            print(String(format: "ID accuracy (AdaNeg task proxy, mean over sets): %.2f%%", 100 * acc.reduce(0, +) / Double(acc.count)))
        }
        print(String(format: "Scored %d samples in %.1f s. These are synthetic data.", result.samples, Date().timeIntervalSince(started)))
    }
}

/// Scores every synthetic OOD set with each method from the same streams.
struct DemoRun {
    static let methods = ["MCM", "NegLabel", "AdaNeg (task)", "AdaNeg (sample)"]

    let data: SyntheticBenchmark
    let parameters: ScoringParameters
    let seed: UInt64

    struct Result {
        var sets: [String] = []
        var metrics: [String: [String: OODMetrics]] = [:]
        var samples = 0
    }

    func run() throws -> Result {
        var result = Result()
        for kind in SyntheticBenchmark.OODKind.allCases {
            let (features, labels) = data.stream(for: kind, seed: seed &+ 1)
            var perMethod = [String: OODMetrics]()
            for proxy in ProxyKind.allCases {
                var p = parameters
                p.proxy = proxy
                var scorer = try AdaNegScorer(text: data.text, numID: data.shape.classes, parameters: p, permutation: .seed(seed))
                let scores = try scorer.scoreStream(features)
                let preds = scores.map(\.pred)
                perMethod["AdaNeg (\(proxy.rawValue))"] = try OODMetrics.compute(conf: scores.map(\.conf), labels: labels, pred: preds)
                if proxy == .task {
                    perMethod["MCM"] = try OODMetrics.compute(conf: scores.map(\.mcm), labels: labels, pred: preds)
                    perMethod["NegLabel"] = try OODMetrics.compute(conf: scores.map(\.confVanilla), labels: labels, pred: preds)
                }
                result.samples += features.rows
            }
            result.sets.append(kind.rawValue)
            result.metrics[kind.rawValue] = perMethod
        }
        return result
    }
}
