/// What became of one sample in a pass: its scores, or why it has none (an unreadable image, a
/// feature row of zeros). One representation from the worker to the report; no zeros standing
/// in for an error.
public enum SampleResult: Sendable, Equatable {
    case scored(SampleScore)
    case failed(String)

    /// The scores, when the sample was scored.
    public var score: SampleScore? {
        if case let .scored(s) = self { return s }
        return nil
    }
}

/// The three OOD scores every pass computes, in table order.
public enum ScoringMethod: String, CaseIterable, Sendable, Codable {
    /// The maximum softmax probability over the ID labels.
    case mcm
    /// The static grouped score of the mined negative labels.
    case neglabel
    /// The configured AdaNeg score (static plus adaptive proxies).
    case adaneg

    /// This method's score of a sample (higher = more in-distribution).
    public func score(of s: SampleScore) -> Float {
        switch self {
        case .mcm: s.mcm
        case .neglabel: s.confVanilla
        case .adaneg: s.conf
        }
    }

    /// This method's predicted class: MCM and NegLabel use the argmax of the ID logits, AdaNeg
    /// its own (bank-dependent) prediction.
    public func prediction(of s: SampleScore) -> Int {
        self == .adaneg ? s.pred : s.predStatic
    }
}
