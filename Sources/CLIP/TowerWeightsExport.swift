import Tensor

/// Read-only views of the towers' weights for other backends (the CUDA towers upload them):
/// the CPU towers keep their weight types internal, and these views expose exactly what a
/// backend needs to compute the same function, with the same epsilon and activation.
public struct ExportedLinear: Sendable {
    public let weight: WeightMatrix   // out × in
    public let bias: [Float]
}

public struct ExportedLayerNorm: Sendable {
    public let gamma: [Float]
    public let beta: [Float]
    public let eps: Float
}

public struct ExportedEncoderLayer: Sendable {
    public let norm1: ExportedLayerNorm
    /// `[Q; K; V]`, `3·hidden × hidden`.
    public let qkv: ExportedLinear
    public let out: ExportedLinear
    public let norm2: ExportedLayerNorm
    public let fc1: ExportedLinear
    public let fc2: ExportedLinear
}

public struct ExportedEncoder: Sendable {
    public let layers: [ExportedEncoderLayer]
    public let hidden: Int
    public let heads: Int
    public let activation: Activation
}

extension LayerNormWeights { var exported: ExportedLayerNorm { ExportedLayerNorm(gamma: gamma, beta: beta, eps: eps) } }
extension Linear { var exported: ExportedLinear { ExportedLinear(weight: weight, bias: bias) } }
extension EncoderWeights {
    var exported: ExportedEncoder {
        ExportedEncoder(layers: layers.map {
            ExportedEncoderLayer(norm1: $0.norm1.exported, qkv: $0.qkv.exported, out: $0.out.exported,
                                 norm2: $0.norm2.exported, fc1: $0.fc1.exported, fc2: $0.fc2.exported)
        }, hidden: hidden, heads: heads, activation: activation)
    }
}

extension VisionTransformer {
    /// Patch embedding (`hidden × 3·P·P`), class and position embeddings, pre/post norms,
    /// encoder and projection (`projectionDim × hidden`, fp32).
    public var exportedWeights: (patch: WeightMatrix, classEmbedding: [Float], positionEmbedding: [Float],
                                 preNorm: ExportedLayerNorm, postNorm: ExportedLayerNorm, encoder: ExportedEncoder, projection: [Float]) {
        (patchWeight, classEmbedding, positionEmbedding, preNorm.exported, postNorm.exported, encoder.exported, projection)
    }
}

extension TextTransformer {
    /// Token and position embeddings, final norm, encoder and projection.
    public var exportedWeights: (tokenEmbedding: [Float], positionEmbedding: [Float], finalNorm: ExportedLayerNorm,
                                 encoder: ExportedEncoder, projection: [Float]) {
        (tokenEmbedding, positionEmbedding, finalNorm.exported, encoder.exported, projection)
    }

    /// The CPU tower's batching by length, shared so both backends group prompts alike.
    public static func groupsByLength(_ lengths: [Int], maxBatch: Int) -> [[Int]] { lengthGroups(lengths, maxBatch: maxBatch) }

    /// Checks token sequences as `embed` does and returns the encoded length of each (up to and
    /// including the pooled token).
    public func encodedLengths(_ tokenSequences: [[Int]]) throws(CLIPModelError) -> [Int] {
        var lengths: [Int] = []
        for seq in tokenSequences {
            guard !seq.isEmpty else { throw .emptySequence }
            let length = poolIndex(seq) + 1
            guard length <= config.maxPositionEmbeddings else { throw .sequenceTooLong(length: length, maximum: config.maxPositionEmbeddings) }
            for t in seq[..<length] where t < 0 || t >= config.vocabSize {
                throw .tokenOutOfRange(token: t, vocabularySize: config.vocabSize)
            }
            lengths.append(length)
        }
        return lengths
    }
}
