import AdaNeg
import ArgumentParser
import NPY
import Platform

/// `adaneg synthesize`: writes one synthetic task stream as `.npy` files, for benchmarks and
/// for trying `score-features` without CLIP.
struct SynthesizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Write synthetic CLIP-like features (image.npy, text.npy, labels.npy) for one ID+OOD stream.",
        discussion: "The data are synthetic: label and image features on the unit sphere with a CLIP-like modality gap."
    )

    @Option(help: "Output folder: created if missing; an empty folder or a previous synthesize output is replaced, any other folder refused.")
    var out: String
    @Option(help: "C, ID classes.") var classes: Int = 1000
    @Option(help: "M, negative labels.") var negatives: Int = 10000
    @Option(help: "D, feature dimension.") var dim: Int = 512
    @Option(help: "ID samples in the stream.") var idSamples: Int = 5120
    @Option(help: "OOD samples in the stream.") var oodSamples: Int = 5120
    @Option(help: "OOD kind: covered, uncovered or near-id.") var kind: String = "covered"
    @Option(help: "Seed for the data and the shuffle.") var seed: UInt64 = 0
    @Option(help: "stream: one shuffled ID+OOD stream (image.npy, labels.npy, text.npy) for score-features; job: the sets a job names (text.npy, id.npy, id-labels.npy, ood-<kind>.npy for every kind).")
    var layout: String = "stream"

    func run() throws {
        guard let oodKind = SyntheticBenchmark.OODKind(rawValue: kind) else {
            throw CommandFailure("--kind '\(kind)' is not one of covered, uncovered, near-id")
        }
        guard classes > 0, negatives > 0, dim >= 8, idSamples > 0, oodSamples > 0 else {
            throw CommandFailure("--classes, --negatives, --id-samples and --ood-samples must be positive and --dim at least 8")
        }
        let shape = SyntheticBenchmark.Shape(classes: classes, negatives: negatives, dimension: dim,
                                             idSamples: idSamples, oodSamples: oodSamples)
        try SyntheticSize.check(shape)
        let data = SyntheticBenchmark(shape: shape, seed: seed)
        // A new folder, an empty one or a previous output of this command (its manifest.json),
        // built beside it and renamed into place.
        let output = try OutputTarget.checkedFolder(out, writer: "adaneg synthesize")
        switch layout {
        case "job":
            try output.commitFolder { folder in try DemoData.write(data, to: folder) }
            print("wrote text.npy, id.npy, id-labels.npy and ood-{covered,uncovered,near-id}.npy (C = \(classes), M = \(negatives), D = \(dim)) to \(out) [synthetic data]")
            return
        case "stream": break
        default: throw CommandFailure("--layout '\(layout)' is not one of stream, job")
        }
        let (features, labels) = data.stream(for: oodKind, seed: seed &+ 1)
        try output.commitFolder { folder in
            try failing("writing") {
                try NPYFile.writeMatrix(features.storage, rows: features.rows, cols: features.cols, to: "\(folder)/image.npy")
                try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: data.text.cols, to: "\(folder)/text.npy")
                try NPYFile.write(.int64(labels, shape: [labels.count]), to: "\(folder)/labels.npy")
            }
        }
        print("wrote \(features.rows) image features, \(data.text.rows) label features (C = \(classes)) to \(out) [synthetic data]")
    }
}
