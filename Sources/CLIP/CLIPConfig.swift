import Foundation
import Platform

/// The activation inside the transformer MLPs, from `hidden_act`.
public enum Activation: String, Sendable, Equatable {
    case quickGELU = "quick_gelu"
    case gelu = "gelu"
    case geluTanh = "gelu_new"
    case relu = "relu"

    /// Parses a Hugging Face `hidden_act` name; nil when unsupported.
    public init?(huggingFaceName name: String) {
        switch name {
        case "quick_gelu": self = .quickGELU
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "relu": self = .relu
        default: return nil
        }
    }
}

// MARK: - Text tower

/// `text_config` of a Hugging Face CLIP `config.json`. Defaults are transformers' own.
public struct CLIPTextConfig: Sendable, Equatable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = "quick_gelu"
    public var layerNormEps: Float = 1e-5
    public var eosTokenId = 49407
    public var bosTokenId = 49406
    public var padTokenId = 1

    public var headDim: Int { hiddenSize / max(numAttentionHeads, 1) }

    public init() {}
}

extension CLIPTextConfig: Decodable {
    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case eosTokenId = "eos_token_id"
        case bosTokenId = "bos_token_id"
        case padTokenId = "pad_token_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        eosTokenId = try c.decodeIntOrFirst(.eosTokenId) ?? d.eosTokenId
        bosTokenId = try c.decodeIntOrFirst(.bosTokenId) ?? d.bosTokenId
        padTokenId = try c.decodeIntOrFirst(.padTokenId) ?? d.padTokenId
    }
}

// MARK: - Vision tower

/// `vision_config` of a Hugging Face CLIP `config.json`. Defaults are transformers' own.
public struct CLIPVisionConfig: Sendable, Equatable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var numChannels = 3
    public var imageSize = 224
    public var patchSize = 32
    public var hiddenAct = "quick_gelu"
    public var layerNormEps: Float = 1e-5

    public var headDim: Int { hiddenSize / max(numAttentionHeads, 1) }
    public var gridSize: Int { imageSize / max(patchSize, 1) }
    public var numPatches: Int { gridSize * gridSize }

    public init() {}
}

extension CLIPVisionConfig: Decodable {
    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPVisionConfig()
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? d.numChannels
        imageSize = try c.decodeSquare(.imageSize) ?? d.imageSize
        patchSize = try c.decodeSquare(.patchSize) ?? d.patchSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
    }
}

// MARK: - Whole model

/// A Hugging Face CLIP `config.json` (`model_type: "clip"`), validated.
public struct CLIPConfig: Sendable, Equatable {
    public var modelType: String? = "clip"
    public var projectionDim = 512
    public var logitScaleInitValue: Float = 2.6592
    public var text = CLIPTextConfig()
    public var vision = CLIPVisionConfig()
    public var textActivation: Activation = .quickGELU
    public var visionActivation: Activation = .quickGELU

    public init() {}

    /// Upper bounds of the architecture numbers (ViT-bigG/14, the largest CLIP, has width 1664,
    /// MLP 8192, 48 layers, 224-pixel images).
    public static let maxWidth = 1 << 16
    public static let maxVocabulary = 1 << 22
    public static let maxLayers = 1024
    public static let maxPositions = 1 << 16
    public static let maxImageSize = 1 << 14

    /// Reads and validates `config.json`.
    public static func load(path: String) throws(CLIPConfigError) -> CLIPConfig {
        let data: Data
        do {
            data = try RegularFile.read(path)
        } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
        return try decode(data, path: path)
    }

    /// Parses and validates config bytes; `path` only labels errors.
    public static func decode(_ data: Data, path: String) throws(CLIPConfigError) -> CLIPConfig {
        // Identify the kind of config before decoding fields, so a wrong file gets a clear message.
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw .unreadable(path: path, reason: "not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw .unreadable(path: path, reason: "top level is not a JSON object") }
        let modelType = dict["model_type"] as? String
        if let modelType, modelType != "clip" { throw .notCLIP(path: path, modelType: modelType) }
        guard dict["text_config"] is [String: Any] || dict["text_config_dict"] is [String: Any],
              dict["vision_config"] is [String: Any] || dict["vision_config_dict"] is [String: Any]
        else { throw .notCLIP(path: path, modelType: modelType) }

        var config: CLIPConfig
        do {
            config = try JSONDecoder().decode(CLIPConfig.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw .invalid(path: path, field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: context.debugDescription)
        } catch let DecodingError.dataCorrupted(context) {
            throw .invalid(path: path, field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: context.debugDescription)
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        guard let textAct = Activation(huggingFaceName: config.text.hiddenAct) else {
            throw .unknownActivation(path: path, field: "text_config.hidden_act", name: config.text.hiddenAct)
        }
        guard let visionAct = Activation(huggingFaceName: config.vision.hiddenAct) else {
            throw .unknownActivation(path: path, field: "vision_config.hidden_act", name: config.vision.hiddenAct)
        }
        config.textActivation = textAct
        config.visionActivation = visionAct
        try config.validate(path: path)
        return config
    }

    func validate(path: String) throws(CLIPConfigError) {
        // Each size between 1 and a bound far above any published CLIP, so what the towers derive
        // from them (patch grid², weight and activation sizes) cannot overflow.
        func inRange(_ value: Int, _ field: String, max: Int) throws(CLIPConfigError) {
            if value <= 0 { throw .invalid(path: path, field: field, reason: "must be positive, found \(value)") }
            if value > max { throw .invalid(path: path, field: field, reason: "must be at most \(max), found \(value)") }
        }
        try inRange(projectionDim, "projection_dim", max: Self.maxWidth)
        try inRange(text.vocabSize, "text_config.vocab_size", max: Self.maxVocabulary)
        try inRange(text.hiddenSize, "text_config.hidden_size", max: Self.maxWidth)
        try inRange(text.intermediateSize, "text_config.intermediate_size", max: Self.maxWidth)
        try inRange(text.numHiddenLayers, "text_config.num_hidden_layers", max: Self.maxLayers)
        try inRange(text.numAttentionHeads, "text_config.num_attention_heads", max: Self.maxWidth)
        try inRange(text.maxPositionEmbeddings, "text_config.max_position_embeddings", max: Self.maxPositions)
        try inRange(vision.hiddenSize, "vision_config.hidden_size", max: Self.maxWidth)
        try inRange(vision.intermediateSize, "vision_config.intermediate_size", max: Self.maxWidth)
        try inRange(vision.numHiddenLayers, "vision_config.num_hidden_layers", max: Self.maxLayers)
        try inRange(vision.numAttentionHeads, "vision_config.num_attention_heads", max: Self.maxWidth)
        try inRange(vision.imageSize, "vision_config.image_size", max: Self.maxImageSize)
        try inRange(vision.patchSize, "vision_config.patch_size", max: Self.maxImageSize)
        if text.hiddenSize % text.numAttentionHeads != 0 {
            throw .invalid(path: path, field: "text_config.hidden_size", reason: "\(text.hiddenSize) is not divisible by num_attention_heads \(text.numAttentionHeads)")
        }
        if vision.hiddenSize % vision.numAttentionHeads != 0 {
            throw .invalid(path: path, field: "vision_config.hidden_size", reason: "\(vision.hiddenSize) is not divisible by num_attention_heads \(vision.numAttentionHeads)")
        }
        if vision.imageSize % vision.patchSize != 0 {
            throw .invalid(path: path, field: "vision_config.image_size", reason: "\(vision.imageSize) is not a multiple of patch_size \(vision.patchSize)")
        }
        if vision.numChannels != 3 {
            throw .invalid(path: path, field: "vision_config.num_channels", reason: "only 3-channel (RGB) models are supported, found \(vision.numChannels)")
        }
        if !(text.layerNormEps > 0 && text.layerNormEps.isFinite) || !(vision.layerNormEps > 0 && vision.layerNormEps.isFinite) {
            throw .invalid(path: path, field: "layer_norm_eps", reason: "must be positive and finite")
        }
    }
}

extension CLIPConfig: Decodable {
    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case projectionDim = "projection_dim"
        case logitScaleInitValue = "logit_scale_init_value"
        case textConfig = "text_config"
        case visionConfig = "vision_config"
        case textConfigDict = "text_config_dict"
        case visionConfigDict = "vision_config_dict"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? 512
        logitScaleInitValue = try c.decodeIfPresent(Float.self, forKey: .logitScaleInitValue) ?? 2.6592
        // Older checkpoints carry both `text_config` and `text_config_dict`; transformers lets the latter win.
        text = try c.decodeIfPresent(CLIPTextConfig.self, forKey: .textConfigDict)
            ?? c.decode(CLIPTextConfig.self, forKey: .textConfig)
        vision = try c.decodeIfPresent(CLIPVisionConfig.self, forKey: .visionConfigDict)
            ?? c.decode(CLIPVisionConfig.self, forKey: .visionConfig)
    }
}

// MARK: - Decoding helpers

extension KeyedDecodingContainer {
    /// An integer, or the first element of an integer list (`eos_token_id` may be either).
    func decodeIntOrFirst(_ key: Key) throws -> Int? {
        if let value = try? decodeIfPresent(Int.self, forKey: key) { return value }
        if let list = try? decodeIfPresent([Int].self, forKey: key) { return list.first }
        if contains(key), try decodeNil(forKey: key) { return nil }
        return try decodeIfPresent(Int.self, forKey: key)
    }

    /// An integer, or a square `[n, n]` pair (`image_size`, `patch_size`).
    func decodeSquare(_ key: Key) throws -> Int? {
        if let value = try? decodeIfPresent(Int.self, forKey: key) { return value }
        if let pair = try? decodeIfPresent([Int].self, forKey: key) {
            guard pair.count == 2, pair[0] == pair[1] else {
                throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "only square sizes are supported, found \(pair)")
            }
            return pair[0]
        }
        return try decodeIfPresent(Int.self, forKey: key)
    }
}
