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
    @Option(help: "Output folder: created if missing; an empty folder or a previous mine-negatives output is replaced, any other folder refused.") var out: String
    @Option(help: "M, negative labels to keep.") var count: Int = 10000
    @Option(help: "Candidate list instead of WordNet: one `word<TAB>noun|adj` per line.") var lexicon: String?
    @Option(help: "ID prompt template ({} is the class name); repeat to average several.") var template: [String] = ["The nice {}."]
    @Option(help: "Prompts embedded per block.") var block: Int = 2048
    @OptionGroup var precisionOptions: PrecisionOptions
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        try deviceOptions.textTowerNote()
        let miner = NegativeMiner(model: try ModelArgument.folder(model), classes: classes, out: out, count: count, lexicon: lexicon,
                                  templates: template, block: block, precision: try precisionOptions.resolve())
        let outcome = try miner.runShowingProgress()
        print(outcome.message)
    }
}
