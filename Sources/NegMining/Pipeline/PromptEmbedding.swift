import CLIP
import Foundation
import Tensor

/// The text side of NegMining: ID class features from prompt templates, candidate η a block
/// at a time, and the features of the chosen negatives.
enum PromptEmbedding {
    /// One feature per class: each template embedded and normalised, averaged, renormalised.
    static func classFeatures(_ clip: CLIPModel, classNames: [String], templates: [String]) throws -> Matrix {
        var sum: Matrix?
        for template in templates {
            let prompts = classNames.map { template.replacingOccurrences(of: "{}", with: $0) }
            var m = try embed(clip, prompts: prompts, block: 4096)
            m.normalizeRows()
            if var s = sum {
                for i in s.storage.indices { s.storage[i] += m.storage[i] }
                sum = s
            } else {
                sum = m
            }
        }
        guard var features = sum else { throw MiningError("no prompt template given") }
        features.normalizeRows()
        return features
    }

    /// Unit-norm features of `prompts`, embedded `block` at a time.
    static func embed(_ clip: CLIPModel, prompts: [String], block: Int) throws -> Matrix {
        var storage = [Float]()
        var cols = clip.config.projectionDim
        for start in stride(from: 0, to: prompts.count, by: block) {
            var m = try clip.embedTexts(Array(prompts[start..<min(prompts.count, start + block)]))
            m.normalizeRows()
            cols = m.cols
            storage += m.storage
        }
        return Matrix(rows: prompts.count, cols: cols, storage: storage)
    }

    /// η of every prompt, a block at a time (only one block of features exists at once), and
    /// the features of the `keep` prompts with the lowest η (`LowestEtas`). The prompts are
    /// embedded in the order of their tokens, so that each block's prompts share their
    /// prefixes, which the text tower computes once (`TokenTrie`); η is per prompt, so the order
    /// changes no value. `progress` gets the number of prompts embedded by each block.
    /// `timing` gets the time spent tokenising, in the text tower, and on η and the kept rows.
    static func etas(_ clip: CLIPModel, prompts: [String], idFeatures: Matrix, block: Int, keep: Int,
                     timing: inout EtaTiming, progress: (Int) -> Void) throws -> (etas: [Float], lowest: LowestEtas) {
        guard let tokenizer = clip.tokenizer else { throw MiningError("no vocab.json and merges.txt: the tokenizer is needed to embed the prompts") }
        let clock = ContinuousClock()
        var mark = clock.now
        func lap() -> Duration {
            let now = clock.now
            defer { mark = now }
            return now - mark
        }
        let tokens = tokenize(prompts, tokenizer)
        let order = tokens.indices.sorted { a, b in
            for (s, t) in zip(tokens[a], tokens[b]) where s != t { return s < t }
            return (tokens[a].count, a) < (tokens[b].count, b)
        }
        timing.tokenising += lap()
        var out = [Float](repeating: 0, count: prompts.count)
        var lowest = LowestEtas(keep: keep, cols: idFeatures.cols)
        for start in stride(from: 0, to: order.count, by: block) {
            let slice = Array(order[start..<min(order.count, start + block)])
            var features = try clip.embedTokens(slice.map { tokens[$0] })
            timing.tower += lap()
            features.normalizeRows()
            let etas = NegativeSelection.etas(candidates: features, idFeatures: idFeatures)
            for (r, index) in slice.enumerated() { out[index] = etas[r] }
            lowest.add(indices: slice, etas: etas, features: features)
            timing.etas += lap()
            progress(slice.count)
        }
        return (out, lowest)
    }
}

extension PromptEmbedding {
    /// The prompts' tokens, split across the cores (the tokenizer is thread-safe; the result is
    /// the same as one `map`). 71,021 WordNet prompts took ~2.5 s on one core, outside the text
    /// tower, whose threads are idle meanwhile.
    static func tokenize(_ prompts: [String], _ tokenizer: CLIPTokenizer) -> [[Int]] {
        let workers = max(1, min(NeuralKernels.activeProcessorCount, prompts.count / 512))
        guard workers > 1 else { return prompts.map { tokenizer.tokenize($0) } }
        let parts = (0 ..< workers).map { w in (w * prompts.count / workers) ..< ((w + 1) * prompts.count / workers) }
        let results = Results(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            results.set(w, prompts[parts[w]].map { tokenizer.tokenize($0) })
        }
        return results.joined()
    }

    /// Each worker's part, set once under a lock.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var parts: [[[Int]]]
        init(count: Int) { parts = Array(repeating: [], count: count) }
        func set(_ index: Int, _ part: [[Int]]) {
            lock.lock()
            parts[index] = part
            lock.unlock()
        }
        func joined() -> [[Int]] {
            lock.lock()
            defer { lock.unlock() }
            return parts.flatMap { $0 }
        }
    }
}

/// Where the η pass spends its time (`mine-negatives` logs it: the text tower's share of the
/// whole command is what bounds it from below).
struct EtaTiming {
    var tokenising: Duration = .zero
    var tower: Duration = .zero
    var etas: Duration = .zero
}
