import CLIP
import Foundation
import JobSpec
import NPY
import Platform
import Tensor

/// NegMining as a reusable step: `mine-negatives` runs it, and `run`/`submit` run it for jobs
/// that name a model but no precomputed text features.
public struct NegativeMiner: Sendable {
    public var model: String
    public var classes: String
    public var out: String
    public var count: Int
    public var lexicon: String?
    public var templates: [String]
    public var block: Int = 2048
    /// The text tower's precision; part of the cache key, so fp32 and bf16 mining never mix.
    public var precision: Precision = .fp32
    /// The flag `out` was given to, for messages (`run` names the folder next to its database).
    public var outFlag = "--out"

    public init(model: String, classes: String, out: String, count: Int, lexicon: String? = nil, templates: [String],
                block: Int = 2048, precision: Precision = .fp32) {
        self.model = model
        self.classes = classes
        self.out = out
        self.count = count
        self.lexicon = lexicon
        self.templates = templates
        self.block = block
        self.precision = precision
    }

    public struct Outcome: Sendable {
        public var textFeatures: String
        public var cacheHit: Bool
        public var message: String
    }

    /// Mines, or finds the same run's output already in `out`. `log` gets progress notes and
    /// warnings (one line each), `progress` the prompts embedded so far and their total.
    public func run(log: (String) -> Void = { _ in }, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> Outcome {
        guard count > 0, block > 0 else { throw MiningError("--count and --block must be positive") }
        // A template without {} gives every class the same prompt: no class could be told apart.
        if let bad = templates.first(where: { !$0.contains("{}") }) {
            throw MiningError("--template '\(bad)' has no {} for the class name: every class would get the same prompt")
        }
        let classFile: ClassNamesFile
        do {
            classFile = try ClassNamesFile.read(classes)
        } catch {
            // One line per problem, `file:line: message`, as compilers print them.
            throw MiningError(error.problems.map { p in
                let place = [p.file, p.line.map(String.init)].compactMap { $0 }.joined(separator: ":")
                return place.isEmpty ? p.message : place + ": " + p.message
            }.joined(separator: "\n"))
        }
        for r in classFile.repeats { log("warning: \(classes):\(r.line): class name '\(r.name)' repeats line \(r.first); the classes stay separate") }
        let classNames = classFile.names
        let fingerprint = try MiningFingerprint(model: model, classes: classes, lexicon: lexicon, count: count, templates: templates,
                                                precision: precision)
        if let cached = MiningFingerprint.cached(in: out), cached == fingerprint {
            return Outcome(textFeatures: "\(out)/text-features.npy", cacheHit: true,
                           message: "cache hit: \(out) already holds negatives mined from the same model, classes and parameters")
        }

        let clock = ContinuousClock()
        let started = clock.now
        var mark = started
        func lap() -> Duration {
            let now = clock.now
            defer { mark = now }
            return now - mark
        }
        // Before the model is loaded: an output that may not be written fails at once.
        let target = try MiningOutput.target(out, flag: outFlag, inputs: [.init(classes, flag: "--classes"), .init(model, flag: "--model")]
                                             + (lexicon.map { [.init($0, flag: "--lexicon")] } ?? []))
        let clip: CLIPModel
        do {
            clip = try CLIPModel(directory: model, towers: .text, precision: precision, weightCache: ConvertedWeights.configuredRoot())
        } catch {
            throw MiningError("\(model): \(error)")
        }
        guard clip.tokenizer != nil else {
            throw MiningError("\(model): no vocab.json and merges.txt: the tokenizer is needed to embed the prompts")
        }
        let loading = lap()
        let candidates = try loadCandidates()
        let filtered = NegativeSelection.filter(nouns: candidates.nouns, adjectives: candidates.adjectives, idClasses: classNames)
        log("candidates: \(candidates.nouns.count) nouns, \(candidates.adjectives.count) adjectives; after removing ID names and adjectives that are nouns: \(filtered.nouns.count) nouns, \(filtered.adjectives.count) adjectives")

        let candidateTime = lap()
        let idFeatures = try PromptEmbedding.classFeatures(clip, classNames: classNames, templates: templates)
        let classTime = lap()
        var timing = EtaTiming()
        let total = filtered.nouns.count + filtered.adjectives.count
        var done = 0
        let advance: (Int) -> Void = { n in
            done += n
            progress(done, total)
        }
        // The η pass keeps the features of as many lowest-η candidates per part as step 5 takes.
        let split = NegativeSelection.split(count: count, nouns: filtered.nouns.count, adjectives: filtered.adjectives.count)
        let (nounEta, nounLowest) = try PromptEmbedding.etas(clip, prompts: filtered.nouns.map(PartOfSpeech.noun.prompt), idFeatures: idFeatures,
                                                             block: block, keep: split.nouns, timing: &timing, progress: advance)
        let (adjEta, adjLowest) = try PromptEmbedding.etas(clip, prompts: filtered.adjectives.map(PartOfSpeech.adj.prompt), idFeatures: idFeatures,
                                                           block: block, keep: split.adjectives, timing: &timing, progress: advance)
        let etaPass = lap()
        let chosen = NegativeSelection.select(count: count, nounEtas: nounEta, adjectiveEtas: adjEta)
        if chosen.adjectives.count + chosen.nouns.count < count {
            log("warning: only \(Plural.count(chosen.adjectives.count + chosen.nouns.count, "candidate")) \(Plural.noun(chosen.adjectives.count + chosen.nouns.count, "is", "are")) available for \(Plural.count(count, "negative"))")
        }
        let labels: [(word: String, pos: PartOfSpeech, eta: Float)] =
            chosen.adjectives.map { (filtered.adjectives[$0], .adj, adjEta[$0]) } + chosen.nouns.map { (filtered.nouns[$0], .noun, nounEta[$0]) }
        // The chosen candidates' features from the η pass (`LowestEtas` keeps every one `select`
        // picks); embedding them again is only the fallback should one be missing.
        let negatives: [Float]
        if let adjectives = adjLowest.features(of: chosen.adjectives), let nouns = nounLowest.features(of: chosen.nouns) {
            negatives = adjectives + nouns
        } else {
            negatives = try PromptEmbedding.embed(clip, prompts: labels.map { $0.pos.prompt($0.word) }, block: block).storage
        }

        var all = idFeatures.storage
        all += negatives
        let rows = idFeatures.rows + labels.count
        // The checkpoint's weights are checked at load; this is the last guard: a job scores
        // every sample against these rows, so a NaN here would make every score NaN.
        if let bad = all.firstIndex(where: { !$0.isFinite }) {
            let row = bad / max(1, idFeatures.cols)
            let what = row < idFeatures.rows ? "ID class '\(classNames[row])'" : "negative label '\(labels[row - idFeatures.rows].word)'"
            throw MiningError("\(model): the text feature of \(what) is not finite (NaN or ±∞); nothing was written")
        }
        try MiningOutput.write(target) { dir in
            try NPYFile.writeMatrix(all, rows: rows, cols: idFeatures.cols, to: "\(dir)/text-features.npy")
            let tsv = "label\tpos\teta\n" + labels.map { "\($0.word)\t\($0.pos.rawValue)\t\($0.eta)" }.joined(separator: "\n") + "\n"
            try tsv.write(toFile: "\(dir)/negatives.tsv", atomically: false, encoding: .utf8)
            try fingerprint.write(to: "\(dir)/manifest.json", idClasses: classNames.count, negatives: labels.count,
                                  nouns: chosen.nouns.count, adjectives: chosen.adjectives.count)
        }
        let writing = lap()
        func s(_ d: Duration) -> String {
            let c = d.components
            return String(format: "%.1f s", Double(c.seconds) + Double(c.attoseconds) * 1e-18)
        }
        log("time: model \(s(loading)), candidates \(s(candidateTime)), ID classes \(s(classTime)), η pass \(s(etaPass)) (tokenising "
            + "\(s(timing.tokenising)), text tower \(s(timing.tower)), η and kept rows \(s(timing.etas))), selection and writing \(s(writing)); "
            + "total \(s(clock.now - started))")
        return Outcome(textFeatures: "\(out)/text-features.npy", cacheHit: false,
                       message: "wrote \(labels.count) negative labels (\(chosen.adjectives.count) adjectives, \(chosen.nouns.count) nouns) and \(rows) × \(idFeatures.cols) text features to \(out)")
    }

    private func loadCandidates() throws -> (nouns: [String], adjectives: [String]) {
        if let lexicon {
            do {
                let words = try LexiconFile.read(lexicon)
                return (words.nouns, words.adjectives)
            } catch {
                throw MiningError(error.description)
            }
        }
        do {
            let c = try WordNetCandidates.load()
            return (c.nouns, c.adjectives)
        } catch {
            throw MiningError(error.description)
        }
    }
}
