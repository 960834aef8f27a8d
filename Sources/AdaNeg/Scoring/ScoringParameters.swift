/// How the memory-bank proxy of a label is built from its cached features.
public enum ProxyKind: String, Sendable, CaseIterable, Codable {
    /// Task-adaptive: the normalised sum of the text feature and the cached features.
    case task
    /// Sample-adaptive: cached features weighted by their similarity to each test sample.
    case sample
}

/// Which score ranks samples (higher = more in-distribution).
public enum InScoreMode: String, Sendable, CaseIterable, Codable {
    case adaonly, vanillaonly, combine, multiply
}

/// What happens when a sample is cached into a full memory-bank row.
public enum ReplacementPolicy: String, Sendable, CaseIterable, Codable {
    /// Replace the highest-entropy entry if the new one has strictly lower entropy.
    case entropy
    /// A full row never changes (what the official fp16 run did in practice).
    case first
}

/// The reference implementation ships two post-processors; both are supported.
public enum GateVariant: String, Sendable, CaseIterable, Codable {
    /// Fixed gates (`TTAPromptPostprocessor_noadagap`, the paper's ImageNet run).
    case noadagap
    /// Gates moved by a sliding-window estimate of the ID ratio (`TTAPromptPostprocessor`).
    case adagap
}

/// Every hyperparameter of AdaNeg, with the official ImageNet run's values as defaults.
public struct ScoringParameters: Sendable, Equatable, Codable {
    /// Memory length L: a row holds its text feature plus at most L−1 cached features.
    public var memoryLength: Int = 10
    /// γ, the midpoint of the confidence gates.
    public var threshold: Double = 0.5
    /// g, how far the gates sit from γ.
    public var gap: Double = 0.5
    /// β of the sample-adaptive weights. The reference truncates it to an integer
    /// (`int(5.5) == 5`); `effectiveBeta` does the same.
    public var beta: Double = 5.0
    /// λ, weight of the static score in `combine` and of the adaptive softmax in the prediction.
    public var lambda: Double = 0.1
    /// G, number of negative-label groups.
    public var groups: Int = 5
    /// B, samples per batch; the bank is updated once per batch, before it is scored.
    public var batchSize: Int = 256
    public var proxy: ProxyKind = .task
    public var inScore: InScoreMode = .combine
    public var replacement: ReplacementPolicy = .entropy
    public var variant: GateVariant = .noadagap
    /// `exp(logit_scale)` of the CLIP checkpoint; 100 for OpenAI CLIP.
    public var logitScale: Double = 100

    public init() {}

    enum CodingKeys: String, CodingKey {
        case memoryLength = "memleng", threshold = "thres", gap, beta, lambda, groups
        case batchSize = "batch_size", proxy, inScore = "in_score", replacement, variant
        case logitScale = "logit_scale"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ScoringParameters()
        memoryLength = try c.decodeIfPresent(Int.self, forKey: .memoryLength) ?? d.memoryLength
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
        gap = try c.decodeIfPresent(Double.self, forKey: .gap) ?? d.gap
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        lambda = try c.decodeIfPresent(Double.self, forKey: .lambda) ?? d.lambda
        groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? d.groups
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        proxy = try c.decodeIfPresent(ProxyKind.self, forKey: .proxy) ?? d.proxy
        inScore = try c.decodeIfPresent(InScoreMode.self, forKey: .inScore) ?? d.inScore
        replacement = try c.decodeIfPresent(ReplacementPolicy.self, forKey: .replacement) ?? d.replacement
        variant = try c.decodeIfPresent(GateVariant.self, forKey: .variant) ?? d.variant
        logitScale = try c.decodeIfPresent(Double.self, forKey: .logitScale) ?? d.logitScale
    }

    /// β as the reference uses it: truncated toward zero.
    public var effectiveBeta: Float { Float(beta.rounded(.towardZero)) }

    /// The ID gate `S_nl > γ + g(1−γ)`, as the float32 value the reference compares against.
    public var idGate: Float { Float(threshold + gap * (1 - threshold)) }

    /// The OOD gate `S_nl < γ − gγ`.
    public var oodGate: Float { Float(threshold - gap * threshold) }

    /// Every out-of-range value, named by its job/CLI field name. Empty when valid.
    public func problems() -> [String] {
        var out = [String]()
        if memoryLength < 1 { out.append("memleng must be at least 1 (got \(memoryLength))") }
        if !(0...1).contains(threshold) { out.append("thres must be in [0, 1] (got \(threshold))") }
        if !(0...1).contains(gap) { out.append("gap must be in [0, 1] (got \(gap))") }
        if !beta.isFinite || beta < 0 { out.append("beta must be a finite number ≥ 0 (got \(beta))") }
        if !lambda.isFinite { out.append("lambda must be finite (got \(lambda))") }
        if groups < 1 { out.append("groups must be at least 1 (got \(groups))") }
        if batchSize < 1 { out.append("batch_size must be at least 1 (got \(batchSize))") }
        if !(logitScale.isFinite && logitScale > 0) { out.append("logit_scale must be a positive number (got \(logitScale))") }
        return out
    }
}
