import Foundation

/// Every scoring parameter, defined once: its job key (also the `--set` name of `sweep`), its
/// command-line flag, symbol, type and accepted range, default and help text. The spec decoder,
/// the canonical YAML writer, the scoring flags of `score-features`/`rescore`, `sweep --set`
/// and the parameter table of `docs/algorithm.md` all come from this list, so a new parameter
/// or a changed range is one edit here (a test keeps the docs table in sync).
public enum ScoringParameter: String, CaseIterable, Sendable {
    // The order is the job format's order (and the canonical YAML's).
    case memleng, thres, gap, beta, lambda, groups
    case batchSize = "batch_size"
    case proxy
    case inScore = "in_score"
    case replacement, variant
    case logitScale = "logit_scale"

    /// The key in a job's `scoring:` mapping.
    public var key: String { rawValue }

    /// The long command-line flag, without dashes (`batch_size` → `batch-size`).
    public var flagName: String { rawValue.replacingOccurrences(of: "_", with: "-") }

    /// The flag as typed: `--batch-size`.
    public var flag: String { "--" + flagName }

    /// The value's type and the values accepted.
    public enum Domain: Sendable, Equatable {
        case integer(ClosedRange<Int>)
        case number(ClosedRange<Double>)
        case choice([String])
    }

    /// One value of a parameter.
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        case integer(Int)
        case number(Double)
        case choice(String)

        /// The value as the job format and the command line write it (`0.5`, `10`, `task`).
        public var description: String {
            switch self {
            case .integer(let n): String(n)
            case .number(let d): ScoringParameter.format(d)
            case .choice(let s): s
            }
        }

        public var asDouble: Double? {
            switch self {
            case .integer(let n): Double(n)
            case .number(let d): d
            case .choice: nil
            }
        }
    }

    public var domain: Domain {
        typealias L = ScoringParameters.Limits
        switch self {
        case .memleng: return .integer(L.memoryLength)
        case .thres, .gap: return .number(0...1)
        case .beta: return .number(L.beta)
        case .lambda: return .number(L.lambda)
        case .groups: return .integer(L.groups)
        case .batchSize: return .integer(L.batchSize)
        case .proxy: return .choice(ProxyKind.allCases.map(\.rawValue))
        case .inScore: return .choice(InScoreMode.allCases.map(\.rawValue))
        case .replacement: return .choice(ReplacementPolicy.allCases.map(\.rawValue))
        case .variant: return .choice(GateVariant.allCases.map(\.rawValue))
        case .logitScale: return .number(L.logitScale)
        }
    }

    /// The symbol of the paper (empty for the choices).
    public var symbol: String {
        switch self {
        case .memleng: "L"
        case .thres: "γ"
        case .gap: "g"
        case .beta: "β"
        case .lambda: "λ"
        case .groups: "G"
        case .batchSize: "B"
        case .logitScale: "s"
        case .proxy, .inScore, .replacement, .variant: ""
        }
    }

    /// What the parameter does: the flags' help and the docs table's last column.
    public var help: String {
        switch self {
        case .memleng: "a label's memory row keeps its text feature and up to **L − 1** image features (the reference counts the text feature as the first of L)"
        case .thres: "centre of the two confidence gates"
        case .gap: "distance of the gates from γ: ID gate γ + g(1 − γ), OOD gate γ − gγ"
        case .beta: "sharpness of the sample-adaptive weights; **truncated to an integer** as the reference does (its script passes 5.5 and uses 5)"
        case .lambda: "weight of the static score in the final score and of the adaptive softmax in the prediction"
        case .groups: "number of groups the negatives are split into"
        case .batchSize: "the memory is updated once per batch, before that batch is scored"
        case .proxy: "`task`: one proxy per label; `sample`: a proxy per label and sample"
        case .inScore: "final score: `combine`, `adaonly`, `vanillaonly` or `multiply`"
        case .replacement: "what a full memory row does with a new candidate: `entropy` or `first`"
        case .variant: "`noadagap`: fixed gates (the paper's run); `adagap`: gates moved by the estimated share of ID samples"
        case .logitScale: "`exp(logit_scale)` of the CLIP checkpoint; the logits are `s · cos`"
        }
    }

    /// The help text for a terminal: the docs' text without Markdown emphasis.
    public var plainHelp: String {
        help.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: "")
    }

    /// The accepted values in words: `1 to 1024`, `0 to 1`, `task or sample`.
    public var rangeText: String {
        switch domain {
        case .integer(let r): return "integers \(r.lowerBound) to \(r.upperBound)"
        case .number(let r): return "numbers \(Self.format(r.lowerBound)) to \(Self.format(r.upperBound))"
        case .choice(let c): return c.dropLast().joined(separator: ", ") + " or " + (c.last ?? "")
        }
    }

    /// The official ImageNet run's value (`ScoringParameters()`).
    public var defaultValue: Value { value(in: ScoringParameters()) }

    /// This parameter's value in `p`.
    public func value(in p: ScoringParameters) -> Value {
        switch self {
        case .memleng: .integer(p.memoryLength)
        case .thres: .number(p.threshold)
        case .gap: .number(p.gap)
        case .beta: .number(p.beta)
        case .lambda: .number(p.lambda)
        case .groups: .integer(p.groups)
        case .batchSize: .integer(p.batchSize)
        case .proxy: .choice(p.proxy.rawValue)
        case .inScore: .choice(p.inScore.rawValue)
        case .replacement: .choice(p.replacement.rawValue)
        case .variant: .choice(p.variant.rawValue)
        case .logitScale: .number(p.logitScale)
        }
    }

    /// Sets this parameter in `p`. A value of the wrong kind, or a choice that is not one of
    /// the parameter's, is a programming error upstream: `parse` and the decoder produce only
    /// values of the parameter's domain. Returns false (and changes nothing) for such a value.
    @discardableResult
    public func set(_ value: Value, in p: inout ScoringParameters) -> Bool {
        switch (self, value) {
        case (.memleng, .integer(let n)): p.memoryLength = n
        case (.groups, .integer(let n)): p.groups = n
        case (.batchSize, .integer(let n)): p.batchSize = n
        case (.thres, let v): guard let d = v.asDouble else { return false }; p.threshold = d
        case (.gap, let v): guard let d = v.asDouble else { return false }; p.gap = d
        case (.beta, let v): guard let d = v.asDouble else { return false }; p.beta = d
        case (.lambda, let v): guard let d = v.asDouble else { return false }; p.lambda = d
        case (.logitScale, let v): guard let d = v.asDouble else { return false }; p.logitScale = d
        case (.proxy, .choice(let s)): guard let k = ProxyKind(rawValue: s) else { return false }; p.proxy = k
        case (.inScore, .choice(let s)): guard let k = InScoreMode(rawValue: s) else { return false }; p.inScore = k
        case (.replacement, .choice(let s)): guard let k = ReplacementPolicy(rawValue: s) else { return false }; p.replacement = k
        case (.variant, .choice(let s)): guard let k = GateVariant(rawValue: s) else { return false }; p.variant = k
        default: return false
        }
        return true
    }

    /// Reads one value as typed on a command line or in `--set` (`10`, `0.5`, `task`). Only the
    /// type is checked here; the range is `problem(with:)`'s, so every caller reports a value
    /// out of range with the same words.
    public func parse(_ text: String) -> Result<Value, ParseProblem> {
        let t = text.trimmingCharacters(in: .whitespaces)
        switch domain {
        case .integer:
            guard let n = Int(t) else {
                if !t.isEmpty, t.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "+" }) {
                    return .failure(ParseProblem("\(key) takes \(rangeText); '\(text)' is out of range"))
                }
                return .failure(ParseProblem("\(key) takes \(rangeText); '\(text)' is not an integer"))
            }
            return .success(.integer(n))
        case .number:
            guard let d = Double(t), !t.isEmpty, !t.lowercased().contains("x") else {
                return .failure(ParseProblem("\(key) takes \(rangeText); '\(text)' is not a number"))
            }
            return .success(.number(d))
        case .choice(let choices):
            guard choices.contains(t) else {
                return .failure(ParseProblem("\(key) takes \(rangeText); '\(text)' is not one of them"))
            }
            return .success(.choice(t))
        }
    }

    /// Why `value` is out of this parameter's range (the words every command and the job
    /// format use), or nil when it is valid.
    public func problem(with value: Value) -> String? {
        switch (self, value) {
        case (_, .integer(let n)):
            guard case .integer(let range) = domain else { return value.asDouble.flatMap { problem(with: .number($0)) } }
            if range.contains(n) { return nil }
            return n < range.lowerBound ? "\(key) must be at least \(range.lowerBound) (got \(n))"
                                        : "\(key) must be at most \(range.upperBound) (got \(n))"
        case (.thres, .number(let d)), (.gap, .number(let d)):
            return (0...1).contains(d) ? nil : "\(key) must be in [0, 1] (got \(d))"
        case (.beta, .number(let d)):
            if !d.isFinite || d < 0 { return "beta must be a finite number ≥ 0 (got \(d))" }
            if !ScoringParameters.Limits.beta.contains(d) {
                return "beta must be at most \(ScoringParameters.Limits.beta.upperBound) (got \(d)): larger values make every sample-proxy weight 0 in float32"
            }
            return nil
        case (.lambda, .number(let d)):
            if !d.isFinite { return "lambda must be finite (got \(d))" }
            let r = ScoringParameters.Limits.lambda
            return r.contains(d) ? nil : "lambda must be in [\(r.lowerBound), \(r.upperBound)] (got \(d))"
        case (.logitScale, .number(let d)):
            if !(d.isFinite && d > 0) { return "logit_scale must be a positive number (got \(d))" }
            let r = ScoringParameters.Limits.logitScale
            return r.contains(d) ? nil : "logit_scale must be in [\(r.lowerBound), \(r.upperBound)] (got \(d))"
        case (_, .number(let d)):
            return "\(key) takes \(rangeText) (got \(d))"
        case (_, .choice(let s)):
            guard case .choice(let choices) = domain else { return "\(key) takes \(rangeText) (got '\(s)')" }
            return choices.contains(s) ? nil : "\(key) takes \(rangeText) (got '\(s)')"
        }
    }

    /// The parameter whose key or flag is `name` (`batch_size`, `batch-size`, `--batch-size`).
    public static func named(_ name: String) -> ScoringParameter? {
        var n = name
        while n.hasPrefix("-") { n.removeFirst() }
        return ScoringParameter(rawValue: n.replacingOccurrences(of: "-", with: "_"))
    }

    /// The parameters that decide the state of the memory bank along a stream: points that
    /// agree on these (and on the stream) hold the same bank after every batch.
    public var shapesBank: Bool {
        switch self {
        case .memleng, .thres, .gap, .groups, .batchSize, .replacement, .variant, .logitScale: true
        case .beta, .lambda, .proxy, .inScore: false
        }
    }

    /// The table of `docs/algorithm.md` ("Inputs"): one row per parameter, from this list (a
    /// test compares the page with it).
    public static func markdownTable() -> String {
        var out = "| job key | symbol | default | accepted | what it does |\n|---|---|---|---|---|\n"
        for p in allCases {
            let values: String = switch p.domain {
            case .choice(let c): c.map { "`\($0)`" }.joined(separator: ", ")
            default: p.rangeText
            }
            let symbol = p.symbol.isEmpty ? "" : p.symbol
            let shown: String = if case .choice = p.domain { "`\(p.defaultValue)`" } else { "\(p.defaultValue)" }
            out += "| `\(p.key)` | \(symbol) | \(shown) | \(values) | \(p.help) |\n"
        }
        return out
    }

    static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        return String(d)
    }

    /// A value that is not of the parameter's type, in words naming the parameter.
    public struct ParseProblem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}

extension ScoringParameters {
    /// The parameters as (definition, value) pairs in the job format's order.
    public var values: [(ScoringParameter, ScoringParameter.Value)] {
        ScoringParameter.allCases.map { ($0, $0.value(in: self)) }
    }

    /// Every parameter as `key=value`, in the job format's order: the identity of a sweep point
    /// (stored points are found by it, whatever grid produced them).
    public var pointKey: String {
        values.map { "\($0.0.key)=\($0.1)" }.joined(separator: ",")
    }
}
