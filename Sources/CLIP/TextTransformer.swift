import Foundation
import Tensor

/// CLIP's text tower (`CLIPTextTransformer` + `text_projection`): token and position
/// embeddings, causal pre-norm encoder, final layer norm at the end-of-text token, projection
/// and L2 normalisation.
///
/// Attention is causal, so the hidden state at the end-of-text token depends only on the tokens
/// up to it: each prompt is encoded only that far (not padded to 77). Where the fused (oneDNN)
/// encoder runs, the prompts are laid out as a trie of their tokens (`TokenTrie`) and every
/// shared prefix is computed once (`runTree`); otherwise prompts of similar length are batched
/// together with their padding after the pooled position, which changes nothing.
public struct TextTransformer: Sendable {
    public let config: CLIPTextConfig
    public let projectionDim: Int
    let tokenEmbedding: [Float]       // vocab × hidden
    let positionEmbedding: [Float]    // maxPositions × hidden
    let finalNorm: LayerNormWeights
    let encoder: EncoderWeights
    let projection: [Float]           // projectionDim × hidden

    /// Most prompts per forward batch (length-grouped path).
    public var maxBatch = 128
    /// Most trie nodes per forward chunk (trie path): the rows of each product. Larger chunks
    /// share more prefixes and run longer products, at `rows × (8·hidden + intermediate)`
    /// activations (about 40 MB for ViT-B/16's text tower at 4,096 rows, fp32). Nil: the
    /// machine's choice (`chunkRowsChoice`: `ADANEG_TEXT_CHUNK_ROWS`, else measured once and
    /// kept in `choiceFolder`, else `defaultChunkRows`). The size changes no bit of a feature.
    public var maxRows: Int?
    /// Where the chunk-size measurement is kept (the converted-weights cache folder); nil: no
    /// measurement, the default.
    public var choiceFolder: URL?

    // MARK: Loading

    init(config: CLIPTextConfig, projectionDim: Int, activation: Activation, reader: CheckpointReader) throws(CheckpointError) {
        self.config = config
        self.projectionDim = projectionDim
        let d = config.hiddenSize
        tokenEmbedding = try reader.tensor(CheckpointNames.tokenEmbedding, [config.vocabSize, d])
        positionEmbedding = try reader.tensor(CheckpointNames.textPositionEmbedding, [config.maxPositionEmbeddings, d])
        finalNorm = try reader.layerNorm(CheckpointNames.finalLayerNorm, width: d, eps: config.layerNormEps)
        encoder = try reader.encoder(.text, layers: config.numHiddenLayers, hidden: d, intermediate: config.intermediateSize,
                                     heads: config.numAttentionHeads, eps: config.layerNormEps, activation: activation)
        projection = try reader.tensor(CheckpointNames.textProjection, [projectionDim, d])
    }

    // MARK: Pooling position

    /// Where transformers pools: the first `eos_token_id`, or, for configs from before that field
    /// was fixed (`eos_token_id == 2`), the first occurrence of the largest id (the end-of-text
    /// token in CLIP's vocabulary). Without either, the last token.
    public func poolIndex(_ tokens: [Int]) -> Int {
        guard !tokens.isEmpty else { return 0 }
        if config.eosTokenId == 2 {
            var best = 0
            for (i, t) in tokens.enumerated() where t > tokens[best] { best = i }
            return best
        }
        return tokens.firstIndex(of: config.eosTokenId) ?? tokens.count - 1
    }

    // MARK: Forward

    /// Embeds token sequences (each with its start and end tokens, at most
    /// `max_position_embeddings` long). Returns `count × projectionDim` L2-normalised rows in
    /// input order.
    public func embed(tokenSequences: [[Int]]) throws(CLIPModelError) -> [Float] {
        let lengths = try encodedLengths(tokenSequences)
        if let element = TransformerEncoder.fusedElement(encoder) {
            return embedTrie(tokenSequences, lengths: lengths, element: element, rows: resolvedChunkRows(element), encoder: encoder)
        }
        return embedByLength(tokenSequences, lengths: lengths)
    }

    /// The trie path: each chunk (of at most `rows` nodes) of the sequences' token trie through
    /// `runTree` over `encoder` (the tower's, or fewer layers of it for `measureChunkRows`),
    /// its pooled nodes projected.
    func embedTrie(_ tokenSequences: [[Int]], lengths: [Int], element: MatmulOperand.Element, rows: Int,
                   encoder: EncoderWeights) -> [Float] {
        let d = config.hiddenSize
        let quantum = TransformerEncoder.treeRowQuantum
        let trie = TokenTrie(tokenSequences.indices.map { Array(tokenSequences[$0][..<lengths[$0]]) }, maxRows: max(quantum, rows))
        var out = [Float](repeating: 0, count: tokenSequences.count * projectionDim)
        for var chunk in trie.chunks {
            chunk.pad(toMultipleOf: quantum)
            var pooled = chunk.pooledNodes
            if let last = pooled.last, pooled.count % quantum != 0 {
                pooled += repeatElement(last, count: quantum - pooled.count % quantum)
            }
            var x = [Float](repeating: 0, count: chunk.count * d)
            var hidden: [Float] = []
            tokenEmbedding.withUnsafeBufferPointer { te in
                positionEmbedding.withUnsafeBufferPointer { pe in
                    x.withUnsafeMutableBufferPointer { xp in
                        guard let T = te.baseAddress, let P = pe.baseAddress, let X = xp.baseAddress else { return }
                        for i in 0..<chunk.count {
                            let row = X + i * d, e = T + chunk.tokens[i] * d, p = P + chunk.positions[i] * d
                            for j in 0..<d { row[j] = e[j] + p[j] }
                        }
                        hidden = TransformerEncoder.runTree(encoder, element: element, x: X, chunk: chunk, pooled: pooled)
                    }
                }
            }
            let features = project(hidden, batch: pooled.count, norm: finalNorm, hidden: d, projection: projection, projectionDim: projectionDim)
            for (row, index) in chunk.sequences.enumerated() {
                for j in 0..<projectionDim { out[index * projectionDim + j] = features[row * projectionDim + j] }
            }
        }
        return out
    }

    /// The length-grouped path (the OpenBLAS fp32 encoder): prompts of similar length padded
    /// to the longest of their batch.
    func embedByLength(_ tokenSequences: [[Int]], lengths: [Int]) -> [Float] {
        let d = config.hiddenSize
        var out = [Float](repeating: 0, count: tokenSequences.count * projectionDim)
        for group in Self.lengthGroups(lengths, maxBatch: maxBatch) {
            let seqLength = group.map { lengths[$0] }.max() ?? 1
            let batch = group.count
            var x = [Float](repeating: 0, count: batch * seqLength * d)
            tokenEmbedding.withUnsafeBufferPointer { te in
                positionEmbedding.withUnsafeBufferPointer { pe in
                    x.withUnsafeMutableBufferPointer { xp in
                        guard let T = te.baseAddress, let P = pe.baseAddress, let X = xp.baseAddress else { return }
                        for (b, index) in group.enumerated() {
                            let seq = tokenSequences[index]
                            for t in 0..<seqLength {
                                // Padding (after the pooled token) repeats the last token; causality hides it.
                                let id = seq[min(t, lengths[index] - 1)]
                                let row = X + (b * seqLength + t) * d
                                let e = T + id * d, p = P + t * d
                                for i in 0..<d { row[i] = e[i] + p[i] }
                            }
                        }
                    }
                }
            }
            let pooledRows = group.map { lengths[$0] - 1 }
            let pooled = TransformerEncoder.run(encoder, x: &x, batch: batch, seq: seqLength, causal: true, pooled: pooledRows)
            let features = project(pooled, batch: batch, norm: finalNorm, hidden: d, projection: projection, projectionDim: projectionDim)
            for (b, index) in group.enumerated() {
                for j in 0..<projectionDim { out[index * projectionDim + j] = features[b * projectionDim + j] }
            }
        }
        return out
    }

    /// Indices grouped into batches of similar length: sorted by length, a batch closes when it is
    /// full or its longest member would pad its shortest by more than a quarter (at least 2).
    static func lengthGroups(_ lengths: [Int], maxBatch: Int) -> [[Int]] {
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        var groups: [[Int]] = []
        var current: [Int] = []
        for i in order {
            if let first = current.first {
                let shortest = lengths[first]
                if current.count >= maxBatch || lengths[i] - shortest > max(2, shortest / 4) {
                    groups.append(current)
                    current = []
                }
            }
            current.append(i)
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }
}
