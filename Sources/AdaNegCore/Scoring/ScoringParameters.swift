import Foundation

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

    /// The range `conf` lies in for these parameters: `S_ada` and `S_nl` are means of
    /// softmax masses, so each is in [0, 1], and `conf` combines them per `in_score`. The
    /// coordinator refuses completions outside it (plus float32 rounding slack).
    public var confRange: ClosedRange<Double> {
        switch inScore {
        case .adaonly, .vanillaonly, .multiply: return 0...1
        case .combine:
            let weight = variant == .adagap ? 1 : lambda
            return min(0, weight)...(1 + max(0, weight))
        }
    }

    /// The accepted range of every numeric hyperparameter. Values come from job specs, CLI
    /// flags and HTTP bodies; the bounds keep every size derived from them (bank rows × L × D,
    /// batch × labels) far from `Int` overflow and the numbers in float32's range, while staying
    /// well beyond any setting the method is run with (the paper: L = 10, B = 256, G = 5, β = 5).
    public enum Limits {
        /// L: the bank holds L−1 features per label; the paper explores 1…100.
        public static let memoryLength = 1...1024
        /// B: the scorer allocates B × (C+M) logits per batch several times over.
        public static let batchSize = 1...65_536
        /// G: at most the number of negatives, which is capped by the job format too.
        public static let groups = 1...1_000_000
        /// β: `exp(−β(1−q))` underflows float32 to 0 for every weight beyond ~100, and the
        /// sample proxy then divides 0 by 0.
        public static let beta = 0.0...100.0
        /// λ: any finite weight works; the bound keeps `S_ada + λ·S_nl` a float32 number.
        public static let lambda = -1e6...1e6
        /// s: the scores are sigmoids and softmaxes of logit gaps `s·Δcos`, and round to
        /// exactly 1 (or 0) in `Double` once `s·Δcos > 37`. Beyond s = 1000 a cosine gap of
        /// 0.037, ordinary between CLIP's labels, saturates a sample: most samples tie and the
        /// metrics mean nothing, so larger values are refused.
        public static let logitScale = 1e-6...1000.0
        /// Above this, CLIP's own clamp of `exp(logit_scale)`, a value is accepted with a
        /// warning: scores start to saturate (a gap of 0.37 at s = 100).
        public static let usualLogitScale = 100.0
    }

    /// Values that are valid but unusual enough to say so (one line each, naming the field).
    public func warnings() -> [String] {
        var out = [String]()
        if logitScale.isFinite, logitScale > Limits.usualLogitScale, Limits.logitScale.contains(logitScale) {
            out.append("logit_scale \(logitScale) is above \(Int(Limits.usualLogitScale)), where CLIP clamps exp(logit_scale): a sample whose best label leads by a cosine of \(String(format: "%.3g", 37 / logitScale)) scores exactly 1, and such samples tie")
        }
        return out
    }

    /// Every out-of-range value, named by its job/CLI field name, in the words of its
    /// definition (`ScoringParameter.problem(with:)`). Empty when valid.
    public func problems() -> [String] {
        values.compactMap { $0.0.problem(with: $0.1) }
    }
}
