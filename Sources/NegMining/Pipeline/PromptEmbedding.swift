import CLIP
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

    /// η of every prompt, a block at a time: only one block of features exists at once.
    /// `progress` gets the number of prompts embedded by each block.
    static func etas(_ clip: CLIPModel, prompts: [String], idFeatures: Matrix, block: Int, progress: (Int) -> Void) throws -> [Float] {
        var out = [Float]()
        out.reserveCapacity(prompts.count)
        for start in stride(from: 0, to: prompts.count, by: block) {
            let slice = Array(prompts[start..<min(prompts.count, start + block)])
            var features = try clip.embedTexts(slice)
            features.normalizeRows()
            out += NegativeSelection.etas(candidates: features, idFeatures: idFeatures)
            progress(slice.count)
        }
        return out
    }
}
