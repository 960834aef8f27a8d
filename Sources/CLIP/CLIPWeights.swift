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

    /// The fused attention input projection, as a converted-weights cache stores it (not a
    /// transformers name: `self_attn.qkv_proj.weight` is `[q_proj; k_proj; v_proj]`).
    static let fusedQKV = "self_attn.qkv_proj"

    /// Weight matrices that run through the precision's products (the rest stays fp32): the
    /// encoder layers' projections and the patch embedding.
    static func isProductWeight(_ name: String) -> Bool {
        name == patchEmbedding
            || (name.contains(".encoder.layers.") && name.hasSuffix(".weight")
                && (name.contains(".self_attn.") || name.contains(".mlp.fc")))
    }

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

    /// The product weights of every layer.
    var productWeights: [WeightMatrix] { layers.flatMap { [$0.qkv.weight, $0.out.weight, $0.fc1.weight, $0.fc2.weight] } }
}

/// Bytes of product weights a model maps from a file (shared between processes through the
/// page cache) and holds privately.
public struct WeightMemory: Sendable, Equatable {
    public var mapped = 0
    public var owned = 0
    /// Bytes of packed blocks (mapped from a converted-weights cache, `PackedCache`), which the
    /// products read instead of the plain values.
    public var packed = 0

    mutating func add(_ w: WeightMatrix) {
        if w.isMapped { mapped += w.byteCount } else { owned += w.byteCount }
        packed += w.packed.reduce(0) { $0 + $1.byteCount }
    }
}

// MARK: - Loading

/// Reads tensors by name with their expected shapes, turning every mismatch into a
/// `CheckpointError` that names the tensor, the expected and the found shape or dtype.
struct CheckpointReader {
    let file: SafetensorsFile
    /// The precision linear layers are converted to as they are read (once, at load).
    var precision: Precision = .fp32
    /// The file is a converted-weights cache whose packed blocks were packed for this machine's
    /// oneDNN and kernel (`PackedCache`): product weights then carry them.
    let packedBlocksHold: Bool

    init(file: SafetensorsFile, precision: Precision = .fp32) {
        self.file = file
        self.precision = precision
        let recorded = file.metadata["adaneg_packing"] ?? ""
        packedBlocksHold = file.metadata["adaneg_cache_version"] == ConvertedWeights.formatVersion && !recorded.isEmpty
            && recorded == PackedCache.expectedSignature(of: file)
    }

    func tensor(_ name: String, _ shape: [Int]) throws(CheckpointError) -> [Float] {
        guard let info = file.tensors[name] else { throw .missingTensor(name: name, file: file.path) }
        // A 0-d scalar may be stored as [] or [1].
        let found = info.shape
        let same = found == shape || (shape.isEmpty && found == [1]) || (shape == [1] && found.isEmpty)
        guard same else { throw .wrongShape(name: name, file: file.path, expected: shape, found: found) }
        guard let values = file.floats(name) else { throw .unsupportedDType(name: name, file: file.path, dtype: info.dtype) }
        // Checked as converted: an F64 beyond Float's range becomes ∞ here too.
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFinite(name: name, file: file.path, index: bad, value: values[bad])
        }
        return values
    }

    /// A weight matrix read as `rows × cols` (the tensor may have more axes, e.g. a conv kernel,
    /// as long as its shape is `shape`). Mapped in place when the file stores it in the model's
    /// precision (a converted-weights cache, or an fp32 checkpoint run in fp32); converted
    /// otherwise.
    func weightMatrix(_ name: String, rows: Int, cols: Int, shape: [Int]) throws(CheckpointError) -> WeightMatrix {
        guard let info = file.tensors[name] else { throw .missingTensor(name: name, file: file.path) }
        guard info.shape == shape else { throw .wrongShape(name: name, file: file.path, expected: shape, found: info.shape) }
        if let mapped = file.mapped(name, as: precision) {
            if let (index, value) = file.firstNonFinite(name) { throw .nonFinite(name: name, file: file.path, index: index, value: value) }
            var matrix = WeightMatrix(rows: rows, cols: cols, mapped: mapped)
            matrix.packed = PackedCache.mapped(name, in: file, rows: rows, cols: cols, element: matrix.element,
                                               signatureHolds: packedBlocksHold)
            return matrix
        }
        return WeightMatrix(rows: rows, cols: cols, values: try tensor(name, shape), precision: precision)
    }

    func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool = true) throws(CheckpointError) -> Linear {
        let w = try weightMatrix(prefix + ".weight", rows: out, cols: inFeatures, shape: [out, inFeatures])
        let b = bias ? try tensor(prefix + ".bias", [out]) : [Float](repeating: 0, count: out)
        return Linear(weight: w, bias: b)
    }

    /// The fused `[Q; K; V]` projection: stored fused in a converted-weights cache
    /// (`CheckpointNames.fusedQKV`), fused here from the three projections otherwise.
    func fusedQKV(_ tower: CheckpointNames.Tower, layer i: Int, hidden d: Int) throws(CheckpointError) -> Linear {
        let fused = CheckpointNames.layer(tower, i, CheckpointNames.fusedQKV)
        if file.tensors[fused + ".weight"] != nil { return try linear(fused, out: 3 * d, in: d) }
        func name(_ part: String) -> String { CheckpointNames.layer(tower, i, part) }
        // Q, K and V read in fp32 and fused before conversion, so each is rounded once.
        let q = try tensor(name("self_attn.q_proj.weight"), [d, d]), qb = try tensor(name("self_attn.q_proj.bias"), [d])
        let k = try tensor(name("self_attn.k_proj.weight"), [d, d]), kb = try tensor(name("self_attn.k_proj.bias"), [d])
        let v = try tensor(name("self_attn.v_proj.weight"), [d, d]), vb = try tensor(name("self_attn.v_proj.bias"), [d])
        return Linear(weight: WeightMatrix(rows: 3 * d, cols: d, values: q + k + v, precision: precision), bias: qb + kb + vb)
    }

    func layerNorm(_ prefix: String, width: Int, eps: Float) throws(CheckpointError) -> LayerNormWeights {
        LayerNormWeights(gamma: try tensor(prefix + ".weight", [width]), beta: try tensor(prefix + ".bias", [width]), eps: eps)
    }

    func encoder(_ tower: CheckpointNames.Tower, layers: Int, hidden d: Int, intermediate: Int, heads: Int,
                 eps: Float, activation: Activation) throws(CheckpointError) -> EncoderWeights {
        var result: [EncoderLayerWeights] = []
        for i in 0..<layers {
            func name(_ part: String) -> String { CheckpointNames.layer(tower, i, part) }
            let qkv = try fusedQKV(tower, layer: i, hidden: d)
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
