import AdaNeg
import ArgumentParser

/// The AdaNeg hyperparameters as command-line options (defaults: the official ImageNet run).
struct ScoringOptions: ParsableArguments {
    @Option(help: "Samples per batch; the bank is updated once per batch, before scoring it.")
    var batchSize: Int = 256
    @Option(help: "L: a label row holds its text feature plus at most L−1 cached image features.")
    var memleng: Int = 10
    @Option(help: "γ, the gate midpoint.")
    var thres: Double = 0.5
    @Option(help: "g: ID gate S_nl > γ + g(1−γ), OOD gate S_nl < γ − gγ.")
    var gap: Double = 0.5
    @Option(help: "β of the sample-adaptive weights (truncated to an integer, as the reference does).")
    var beta: Double = 5
    @Option(name: .customLong("lambda"), help: "λ: weight of S_nl in 'combine' and of the adaptive softmax in the prediction.")
    var lambda: Double = 0.1
    @Option(help: "G, the number of negative-label groups.")
    var groups: Int = 5
    @Option(help: "Adaptive proxy: task (mean of a slot) or sample (similarity-weighted).")
    var proxy: ProxyKind = .task
    @Option(help: "Final score: adaonly, vanillaonly, combine or multiply.")
    var inScore: InScoreMode = .combine
    @Option(help: "Full-row policy: entropy (replace the highest entropy) or first (never replace).")
    var replacement: ReplacementPolicy = .entropy
    @Option(help: "noadagap (fixed gates, the paper's run) or adagap (gates moved by the ID ratio).")
    var variant: GateVariant = .noadagap
    @Option(help: "exp(logit_scale) of the CLIP checkpoint.")
    var logitScale: Double = 100

    var parameters: ScoringParameters {
        var p = ScoringParameters()
        p.batchSize = batchSize
        p.memoryLength = memleng
        p.threshold = thres
        p.gap = gap
        p.beta = beta
        p.lambda = lambda
        p.groups = groups
        p.proxy = proxy
        p.inScore = inScore
        p.replacement = replacement
        p.variant = variant
        p.logitScale = logitScale
        return p
    }
}

extension ProxyKind: ExpressibleByArgument {}
extension InScoreMode: ExpressibleByArgument {}
extension ReplacementPolicy: ExpressibleByArgument {}
extension GateVariant: ExpressibleByArgument {}
