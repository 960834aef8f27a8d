import ArgumentParser
import CLIP
import Foundation
import JobSpec
import NegMining
import NPY
import Platform
import Tensor

/// `adaneg mine-negatives`: NegMining over WordNet with adaneg's own CLIP text encoder.
struct MineNegativesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mine-negatives",
        abstract: "Mine negative labels from WordNet (NegMining) and write the label text features a job scores with.",
        discussion: """
        Candidates: the first lemma of every WordNet 3.0 synset (nouns without noun.animal and \
        noun.food, all adjectives), minus the ID class names and adjectives that are also nouns \
        (or a --lexicon of `word<TAB>noun|adj` lines). Each candidate is embedded with its \
        part-of-speech prompt, η = the 95th-percentile cosine to the ID prompts, and the M \
        candidates with the lowest η are kept, split between adjectives and nouns in proportion. \
        Writes negatives.tsv, text-features.npy ((C+M) × D: ID classes first) and manifest.json \
        into --out; re-running with the same inputs is a cache hit.
        """
    )

    @Option(help: "CLIP model directory (Hugging Face layout), or a Hub id org/name[@revision].") var model: String
    @Option(help: "ID class names, one per line.") var classes: String
    @Option(help: "Output directory.") var out: String
    @Option(help: "M, negative labels to keep.") var count: Int = 10000
    @Option(help: "Candidate list instead of WordNet: one `word<TAB>noun|adj` per line.") var lexicon: String?
    @Option(help: "ID prompt template ({} is the class name); repeat to average several.") var template: [String] = ["The nice {}."]
    @Option(help: "Prompts embedded per block.") var block: Int = 2048
    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        let miner = NegativeMiner(model: try ModelArgument.folder(model), classes: classes, out: out, count: count, lexicon: lexicon,
                                  templates: template, block: block, precision: try precisionOptions.resolve())
        let outcome = try miner.run()
        print(outcome.message)
    }
}

/// NegMining as a reusable step: `mine-negatives` runs it, and `run`/`submit` run it for jobs
/// that name a model but no precomputed text features.
struct NegativeMiner {
    var model: String
    var classes: String
    var out: String
    var count: Int
    var lexicon: String?
    var templates: [String]
    var block: Int = 2048
    /// The text tower's precision; part of the cache key, so fp32 and bf16 mining never mix.
    var precision: Precision = .fp32

    struct Outcome {
        var textFeatures: String
        var cacheHit: Bool
        var message: String
    }

    func run() throws -> Outcome {
        guard count > 0, block > 0 else { throw CommandFailure("--count and --block must be positive") }
        let classNames = try ClassList.read(classes)
        let fingerprint = try MiningFingerprint(model: model, classes: classes, lexicon: lexicon, count: count, templates: templates,
                                                precision: precision)
        if let cached = MiningFingerprint.cached(in: out), cached == fingerprint {
            return Outcome(textFeatures: "\(out)/text-features.npy", cacheHit: true,
                           message: "cache hit: \(out) already holds negatives mined from the same model, classes and parameters")
        }

        let clip: CLIPModel
        do {
            clip = try CLIPModel(directory: model, towers: .text, precision: precision, weightCache: ConvertedWeights.configuredRoot())
        } catch {
            throw CommandFailure("\(model): \(error)")
        }
        guard clip.tokenizer != nil else {
            throw CommandFailure("\(model): no vocab.json and merges.txt: the tokenizer is needed to embed the prompts")
        }
        let candidates = try loadCandidates()
        let filtered = NegativeSelection.filter(nouns: candidates.nouns, adjectives: candidates.adjectives, idClasses: classNames)
        StandardError.write("candidates: \(candidates.nouns.count) nouns, \(candidates.adjectives.count) adjectives; after removing ID names and adjectives that are nouns: \(filtered.nouns.count) nouns, \(filtered.adjectives.count) adjectives\n")

        let idFeatures = try TextEmbedding.classFeatures(clip, classNames: classNames, templates: templates)
        let progress = EmbeddingProgress(total: filtered.nouns.count + filtered.adjectives.count)
        let nounEta = try TextEmbedding.etas(clip, prompts: filtered.nouns.map(PartOfSpeech.noun.prompt), idFeatures: idFeatures, block: block, progress: progress)
        let adjEta = try TextEmbedding.etas(clip, prompts: filtered.adjectives.map(PartOfSpeech.adj.prompt), idFeatures: idFeatures, block: block, progress: progress)
        progress.finish()
        let chosen = NegativeSelection.select(count: count, nounEtas: nounEta, adjectiveEtas: adjEta)
        if chosen.adjectives.count + chosen.nouns.count < count {
            StandardError.warn("only \(chosen.adjectives.count + chosen.nouns.count) candidates are available for \(count) negatives")
        }
        let labels: [(word: String, pos: PartOfSpeech, eta: Float)] =
            chosen.adjectives.map { (filtered.adjectives[$0], .adj, adjEta[$0]) } + chosen.nouns.map { (filtered.nouns[$0], .noun, nounEta[$0]) }
        let negatives = try TextEmbedding.embed(clip, prompts: labels.map { $0.pos.prompt($0.word) }, block: block)

        var all = idFeatures.storage
        all += negatives.storage
        let rows = idFeatures.rows + negatives.rows
        try MiningOutput.write(to: out) { dir in
            try NPYFile.writeMatrix(all, rows: rows, cols: idFeatures.cols, to: "\(dir)/text-features.npy")
            let tsv = "label\tpos\teta\n" + labels.map { "\($0.word)\t\($0.pos.rawValue)\t\($0.eta)" }.joined(separator: "\n") + "\n"
            try tsv.write(toFile: "\(dir)/negatives.tsv", atomically: false, encoding: .utf8)
            try fingerprint.write(to: "\(dir)/manifest.json", idClasses: classNames.count, negatives: labels.count,
                                  nouns: chosen.nouns.count, adjectives: chosen.adjectives.count)
        }
        return Outcome(textFeatures: "\(out)/text-features.npy", cacheHit: false,
                       message: "wrote \(labels.count) negative labels (\(chosen.adjectives.count) adjectives, \(chosen.nouns.count) nouns) and \(rows) × \(idFeatures.cols) text features to \(out)")
    }

    private func loadCandidates() throws -> (nouns: [String], adjectives: [String]) {
        if let lexicon { return try Lexicon.read(lexicon) }
        do {
            let c = try WordNetCandidates.load()
            return (c.nouns, c.adjectives)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// Before a job is planned: a job that names a model and ID classes but no text features gets
/// its negatives mined (and cached in `directory`), and the spec then points at them.
enum JobPreparation {
    static func resolveNegatives(_ spec: JobSpec, directory: String) throws -> JobSpec {
        guard spec.negatives.textFeatures == nil else { return spec }
        let out = URL(fileURLWithPath: directory).appendingPathComponent("negatives-\(spec.name)").standardizedFileURL.path
        guard let model = spec.model, let classes = try spec.id.classes ?? folderClassNames(spec, into: out) else {
            throw CommandFailure("\(spec.name): negatives need either `text_features` or a `model` and `id.classes` (or ID class folders) to mine them")
        }
        let outcome = try NegativeMiner(model: model, classes: classes, out: out, count: spec.negatives.count,
                                        lexicon: spec.negatives.lexicon, templates: ["The nice {}."],
                                        precision: (spec.precision ?? .fp32).planned()).run()
        StandardError.write(outcome.message + "\n")
        var resolved = spec
        resolved.id.classes = classes
        resolved.negatives.textFeatures = outcome.textFeatures
        resolved.negatives.lexicon = nil
        do {
            return try JobSpecLoader.parse(yaml: resolved.canonicalYAML(), baseDirectory: "/", file: spec.name)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// With the ID set given as class folders and no class-names file, the folder names are the
    /// class names: written to `<out>.classes.txt` (next to the mining output, which mining
    /// replaces as a whole) for mining. nil when there are no folders.
    static func folderClassNames(_ spec: JobSpec, into out: String) throws -> String? {
        guard case let .folders(root) = spec.id.images else { return nil }
        let classes: [String]
        do { classes = try ImageFolders.read(root: root).classes } catch { throw CommandFailure("\(error)") }
        let path = out + ".classes.txt"
        do {
            try Data((classes.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure("cannot write \(path): \(error.localizedDescription)")
        }
        return path
    }
}
