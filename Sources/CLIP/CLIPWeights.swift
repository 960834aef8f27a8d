import Foundation
import Platform
import Tensor

// MARK: - Checkpoint tensor names

/// The one place that knows how Hugging Face names CLIP's tensors (`CLIPModel.state_dict()`).
enum CheckpointNames {
    enum Tower: String {
        case text = "text_model"
        case vision = "vision_model"
    }

    static let tokenEmbedding = "text_model.embeddings.token_embedding.weight"
    static let textPositionEmbedding = "text_model.embeddings.position_embedding.weight"
    static let finalLayerNorm = "text_model.final_layer_norm"
    static let textProjection = "text_projection.weight"

    static let classEmbedding = "vision_model.embeddings.class_embedding"
    static let patchEmbedding = "vision_model.embeddings.patch_embedding.weight"
    static let visionPositionEmbedding = "vision_model.embeddings.position_embedding.weight"
    static let preLayerNorm = "vision_model.pre_layrnorm" // sic: transformers' spelling
    static let postLayerNorm = "vision_model.post_layernorm"
    static let visualProjection = "visual_projection.weight"

    static let logitScale = "logit_scale"

    /// `<tower>.encoder.layers.<index>.<part>`, e.g. part `self_attn.q_proj.weight`.
    static func layer(_ tower: Tower, _ index: Int, _ part: String) -> String {
        "\(tower.rawValue).encoder.layers.\(index).\(part)"
    }
}

// MARK: - Weight containers

/// A linear layer `y = x · Wᵀ + b` with `W` kept as stored (`out × in`, row-major), in the
/// precision the model runs in; the bias stays fp32 (it is added to the fp32 accumulator).
struct Linear: Sendable {
    var weight: WeightMatrix
    var bias: [Float]
    var outFeatures: Int { weight.rows }
    var inFeatures: Int { weight.cols }
}

struct LayerNormWeights: Sendable {
    var gamma: [Float]
    var beta: [Float]
    var eps: Float
}

/// One pre-norm transformer block. Q, K and V are fused into one `3D × D` projection so a
/// block runs one GEMM for all three.
struct EncoderLayerWeights: Sendable {
    var norm1: LayerNormWeights
    var qkv: Linear
    var out: Linear
    var norm2: LayerNormWeights
    var fc1: Linear
    var fc2: Linear
}

struct EncoderWeights: Sendable {
    var layers: [EncoderLayerWeights]
    var hidden: Int
    var heads: Int
    var activation: Activation
}

// MARK: - Loading

/// Reads tensors by name with their expected shapes, turning every mismatch into a
/// `CheckpointError` that names the tensor, the expected and the found shape or dtype.
struct CheckpointReader {
    let file: SafetensorsFile
    /// The precision linear layers are converted to as they are read (once, at load).
    var precision: Precision = .fp32

    func tensor(_ name: String, _ shape: [Int]) throws(CheckpointError) -> [Float] {
        guard let info = file.tensors[name] else { throw .missingTensor(name: name, file: file.path) }
        // A 0-d scalar may be stored as [] or [1].
        let found = info.shape
        let same = found == shape || (shape.isEmpty && found == [1]) || (shape == [1] && found.isEmpty)
        guard same else { throw .wrongShape(name: name, file: file.path, expected: shape, found: found) }
        guard let values = file.floats(name) else { throw .unsupportedDType(name: name, file: file.path, dtype: info.dtype) }
        return values
    }

    func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool = true) throws(CheckpointError) -> Linear {
        let w = try tensor(prefix + ".weight", [out, inFeatures])
        let b = bias ? try tensor(prefix + ".bias", [out]) : [Float](repeating: 0, count: out)
        return Linear(weight: WeightMatrix(rows: out, cols: inFeatures, values: w, precision: precision), bias: b)
    }

    func layerNorm(_ prefix: String, width: Int, eps: Float) throws(CheckpointError) -> LayerNormWeights {
        LayerNormWeights(gamma: try tensor(prefix + ".weight", [width]), beta: try tensor(prefix + ".bias", [width]), eps: eps)
    }

    func encoder(_ tower: CheckpointNames.Tower, layers: Int, hidden d: Int, intermediate: Int, heads: Int,
                 eps: Float, activation: Activation) throws(CheckpointError) -> EncoderWeights {
        var result: [EncoderLayerWeights] = []
        for i in 0..<layers {
            func name(_ part: String) -> String { CheckpointNames.layer(tower, i, part) }
            // Q, K and V read in fp32 and fused before conversion, so each is rounded once.
            let q = try tensor(name("self_attn.q_proj.weight"), [d, d]), qb = try tensor(name("self_attn.q_proj.bias"), [d])
            let k = try tensor(name("self_attn.k_proj.weight"), [d, d]), kb = try tensor(name("self_attn.k_proj.bias"), [d])
            let v = try tensor(name("self_attn.v_proj.weight"), [d, d]), vb = try tensor(name("self_attn.v_proj.bias"), [d])
            let qkv = Linear(weight: WeightMatrix(rows: 3 * d, cols: d, values: q + k + v, precision: precision), bias: qb + kb + vb)
            result.append(EncoderLayerWeights(
                norm1: try layerNorm(name("layer_norm1"), width: d, eps: eps),
                qkv: qkv,
                out: try linear(name("self_attn.out_proj"), out: d, in: d),
                norm2: try layerNorm(name("layer_norm2"), width: d, eps: eps),
                fc1: try linear(name("mlp.fc1"), out: intermediate, in: d),
                fc2: try linear(name("mlp.fc2"), out: d, in: intermediate)
            ))
        }
        return EncoderWeights(layers: result, hidden: d, heads: heads, activation: activation)
    }
}
