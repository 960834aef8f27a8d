import AdaNeg
import ArgumentParser
import Foundation
import NPY
import Platform
import Tensor

/// `adaneg score-features`: the scorer over precomputed CLIP features, sequentially, in the
/// given order — the reference-equivalent path that everything distributed is checked against.
struct ScoreFeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-features",
        abstract: "Score precomputed image features with AdaNeg, NegLabel and MCM in one pass.",
        discussion: """
        X.npy holds N L2-normalised image features (N × D), T.npy the C ID label features followed \
        by the M negative label features ((C+M) × D). Samples are scored in file order, batch by \
        batch. The CSV has one row per sample: index,pred,conf,conf_vanilla,mcm (conf = AdaNeg, \
        conf_vanilla = NegLabel, mcm = MCM; higher = more in-distribution). With --labels (ID class \
        or -1 per sample) the OOD metrics are printed.

        The negative permutation: --perm P.npy (the official one ships in data/), --seed N (the \
        default is --seed 0, a SplitMix64 Fisher-Yates shuffle), or --no-permute.
        """
    )

    @Option(name: .customLong("image-features"), help: "N × D float32/float64 .npy of image features.")
    var imageFeatures: String
    @Option(name: .customLong("text-features"), help: "(C+M) × D .npy of label text features, ID first.")
    var textFeatures: String
    @Option(name: .customLong("num-id"), help: "C, the number of ID classes (the first C rows of T).")
    var numID: Int
    @Option(help: "Where to write the per-sample CSV.")
    var out: String
    @Option(help: "Labels .npy (ID class or -1 per sample); prints metrics.")
    var labels: String?
    @Option(help: "Permutation of the kept negative columns (.npy, int64 or float32 indices).")
    var perm: String?
    @Option(help: "Seed for the negative permutation.")
    var seed: UInt64?
    @Flag(name: .customLong("no-permute"), help: "Group the negatives in file order.")
    var noPermute = false
    @Flag(help: "Print the scoring time per batch (excluding file I/O) to standard error.")
    var timing = false
    @OptionGroup var scoring: ScoringOptions

    func validate() throws {
        let chosen = [perm != nil, seed != nil, noPermute].filter { $0 }.count
        if chosen > 1 { throw ValidationError("--perm, --seed and --no-permute are mutually exclusive") }
    }

    func run() throws {
        let parameters = scoring.parameters
        let problems = parameters.problems()
        for warning in parameters.warnings() { StandardError.warn(warning) }
        guard problems.isEmpty else { throw CommandFailure("invalid options: " + problems.joined(separator: "; ")) }
        let inputs: [OutputTarget.Input] = [.init(imageFeatures, flag: "--image-features"), .init(textFeatures, flag: "--text-features")]
            + [labels.map { .init($0, flag: "--labels") }, perm.map { .init($0, flag: "--perm") }].compactMap { $0 }
        let output = try OutputTarget.checkedFile(out, replacing: ScoreCSV.replaceable, inputs: inputs)

        let (images, nonFinite) = try FeatureInputs.samples(imageFeatures, role: "image features", flag: "--image-features")
        let text = try FeatureInputs.features(textFeatures, role: "text features", flag: "--text-features")
        guard images.cols == text.cols else {
            throw CommandFailure("\(imageFeatures) has \(images.cols)-dimensional features, \(textFeatures) has \(text.cols)")
        }
        guard numID >= 1, numID < text.rows else {
            throw CommandFailure("--num-id \(numID) is out of range: \(textFeatures) has \(text.rows) label rows, so it must be in 1...\(text.rows - 1)")
        }
        let truth = try labels.map { try FeatureInputs.labels($0, count: images.rows, numID: numID) }
        let source: PermutationSource
        if let perm {
            source = .given(try FeatureInputs.permutation(perm))
        } else if noPermute {
            source = .none
        } else {
            source = .seed(seed ?? 0)
        }

        var scorer: AdaNegScorer
        do {
            scorer = try AdaNegScorer(text: text, numID: numID, parameters: parameters, permutation: source)
        } catch {
            let file = perm.map { "\($0): " } ?? ""
            if case .labels(.permutation) = error { throw CommandFailure(file + error.description) }
            throw CommandFailure(error.description)
        }
        // All-zero rows have no direction to score: they are per-sample errors, not samples.
        // Non-finite rows (zeroed on read, and named there) are such errors too.
        var missing = (0..<images.rows).map { r in images.row(r).allSatisfy { $0 == 0 } }
        let zeroRows = missing.count { $0 } - nonFinite.count
        for r in nonFinite { missing[r] = true }
        if zeroRows > 0 {
            StandardError.warn("\(imageFeatures): \(zeroRows) of \(Plural.count(images.rows, "row")) \(Plural.noun(zeroRows, "is", "are")) all zeros (what embed-images --skip-bad writes for unreadable images); they are not scored: pred -1 and empty scores in the CSV, left out of the metrics")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let scored = try failing("scoring") { try scorer.scoreStream(images, missing: missing) }
        if timing {
            let elapsed = clock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let batches = (images.rows + parameters.batchSize - 1) / parameters.batchSize
            StandardError.write(String(format: "timing: %d samples, %d batches, %.3f ms/batch, %.1f µs/sample\n",
                                       images.rows, batches, 1000 * seconds / Double(batches), 1e6 * seconds / Double(images.rows)))
        }
        try ScoreCSV.write(scored, to: output)

        if let truth {
            let kept = scored.indices.filter { scored[$0] != nil }
            let scores = kept.compactMap { scored[$0] }
            let truth = kept.map { truth[$0] }
            // Each method's ACC uses its own prediction: the ID-logit argmax for MCM and NegLabel.
            let rows: [(String, [Float], [Int])] = [
                ("MCM", scores.map(\.mcm), scores.map(\.predStatic)),
                ("NegLabel", scores.map(\.confVanilla), scores.map(\.predStatic)),
                ("AdaNeg (\(parameters.proxy.rawValue))", scores.map(\.conf), scores.map(\.pred)),
            ]
            var table = [(name: String, metrics: OODMetrics)]()
            for (name, conf, preds) in rows {
                do {
                    table.append((name, try OODMetrics.compute(conf: conf, labels: truth, pred: preds)))
                } catch {
                    throw CommandFailure("metrics: \(error)")
                }
            }
            print(MetricsTable.methods(table), terminator: "")
        }
    }
}

/// The per-sample CSV of `score-features`.
enum ScoreCSV {
    static let header = "index,pred,conf,conf_vanilla,mcm"

    /// What `--out` may replace: a previous CSV of this command (or an empty file).
    static let replaceable = OutputTarget.Replaceable.text(header: header)

    /// Writes atomically (temporary file, then rename): no partial file on failure. A sample
    /// without scores (an all-zero row) has `pred` −1 and empty score fields: never `nan`,
    /// which some readers take for a number.
    static func write(_ scores: [SampleScore?], to output: OutputTarget) throws {
        var text = header + "\n"
        text.reserveCapacity(scores.count * 48)
        for (i, score) in scores.enumerated() {
            if let s = score, [s.conf, s.confVanilla, s.mcm].allSatisfy(\.isFinite) {
                text += "\(i),\(s.pred),\(s.conf),\(s.confVanilla),\(s.mcm)\n"
            } else {
                text += "\(i),-1,,,\n"
            }
        }
        try output.commit(Data(text.utf8))
    }
}
