/// Everything adaneg computes for one test sample in one pass.
public struct SampleScore: Sendable, Equatable {
    /// Predicted ID class.
    public var pred: Int
    /// The configured AdaNeg score (higher = more in-distribution).
    public var conf: Float
    /// NegLabel: the static grouped score `S_nl`.
    public var confVanilla: Float
    /// MCM: the maximum softmax probability over the ID labels.
    public var mcm: Float
    /// The adaptive score `S_ada` alone.
    public var adaptive: Float
    /// The static prediction, `argmax` of the ID logits: MCM's and NegLabel's own prediction,
    /// which their ACC uses (AdaNeg's `pred` depends on the bank, so on the worker count).
    public var predStatic: Int

    public init(pred: Int, conf: Float, confVanilla: Float, mcm: Float, adaptive: Float, predStatic: Int? = nil) {
        self.pred = pred
        self.conf = conf
        self.confVanilla = confVanilla
        self.mcm = mcm
        self.adaptive = adaptive
        self.predStatic = predStatic ?? pred
    }
}

/// How a batch changed the bank, for progress reporting and the report's bank-fill curve.
public struct BatchBankActivity: Sendable, Equatable {
    public var idConfident = 0
    public var oodConfident = 0
    public var appended = 0
    public var replaced = 0
    public var rejected = 0

    public init() {}
}
