import AdaNeg
import ArgumentParser

/// The AdaNeg hyperparameters as command-line options, shared by `score-features` (over the
/// official ImageNet run's values) and `rescore` (over the job's own). Each flag's name, help
/// and default come from the parameter's one definition (`ScoringParameter`); ranges are checked
/// by `ScoringParameters.problems()`, in the words the job format uses.
struct ScoringOptions: ParsableArguments {
    @Option(name: .customLong(ScoringParameter.batchSize.flagName), help: Self.help(.batchSize)) var batchSize: Int?
    @Option(name: .customLong(ScoringParameter.memleng.flagName), help: Self.help(.memleng)) var memleng: Int?
    @Option(name: .customLong(ScoringParameter.thres.flagName), help: Self.help(.thres)) var thres: Double?
    @Option(name: .customLong(ScoringParameter.gap.flagName), help: Self.help(.gap)) var gap: Double?
    @Option(name: .customLong(ScoringParameter.beta.flagName), help: Self.help(.beta)) var beta: Double?
    @Option(name: .customLong(ScoringParameter.lambda.flagName), help: Self.help(.lambda)) var lambda: Double?
    @Option(name: .customLong(ScoringParameter.groups.flagName), help: Self.help(.groups)) var groups: Int?
    @Option(name: .customLong(ScoringParameter.proxy.flagName), help: Self.help(.proxy)) var proxy: ProxyKind?
    @Option(name: .customLong(ScoringParameter.inScore.flagName), help: Self.help(.inScore)) var inScore: InScoreMode?
    @Option(name: .customLong(ScoringParameter.replacement.flagName), help: Self.help(.replacement)) var replacement: ReplacementPolicy?
    @Option(name: .customLong(ScoringParameter.variant.flagName), help: Self.help(.variant)) var variant: GateVariant?
    @Option(name: .customLong(ScoringParameter.logitScale.flagName), help: Self.help(.logitScale)) var logitScale: Double?

    /// The help of a flag: the definition's symbol, text, accepted values and default.
    static func help(_ p: ScoringParameter) -> ArgumentHelp {
        let symbol = p.symbol.isEmpty ? "" : "\(p.symbol): "
        return ArgumentHelp("\(symbol)\(p.plainHelp); \(p.rangeText) (default: \(p.defaultValue); rescore: the job's).",
                            valueName: p.key)
    }

    /// Every flag with the value given, nil where it was not given; one entry per parameter.
    var given: [(ScoringParameter, ScoringParameter.Value?)] {
        [
            (.memleng, memleng.map { .integer($0) }), (.thres, thres.map { .number($0) }), (.gap, gap.map { .number($0) }),
            (.beta, beta.map { .number($0) }), (.lambda, lambda.map { .number($0) }), (.groups, groups.map { .integer($0) }),
            (.batchSize, batchSize.map { .integer($0) }), (.proxy, proxy.map { .choice($0.rawValue) }),
            (.inScore, inScore.map { .choice($0.rawValue) }), (.replacement, replacement.map { .choice($0.rawValue) }),
            (.variant, variant.map { .choice($0.rawValue) }), (.logitScale, logitScale.map { .number($0) }),
        ]
    }

    /// `base` with the given flags applied.
    func parameters(over base: ScoringParameters) -> ScoringParameters {
        var p = base
        for case let (parameter, value?) in given { parameter.set(value, in: &p) }
        return p
    }

    /// Over the official ImageNet run's values (`score-features`).
    var parameters: ScoringParameters { parameters(over: ScoringParameters()) }
}

extension ProxyKind: ExpressibleByArgument {}
extension InScoreMode: ExpressibleByArgument {}
extension ReplacementPolicy: ExpressibleByArgument {}
extension GateVariant: ExpressibleByArgument {}
