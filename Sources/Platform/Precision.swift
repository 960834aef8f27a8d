/// The number format the model's matrix products run in. LayerNorm, softmax, the activations and
/// the residual stream are fp32 in both; `bf16` rounds the weights and each product's input to
/// bfloat16 and accumulates in fp32.
public enum Precision: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case fp32
    case bf16

    public var description: String { rawValue }
}

/// What a user asks for: a precision, or `auto` (bf16 where the CPU multiplies bf16 natively
/// and faster than fp32, else fp32: `CPUFeatures.autoBF16`).
public enum PrecisionChoice: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case fp32
    case bf16
    case auto

    public var description: String { rawValue }

    /// The accepted spellings, for error messages.
    public static var choices: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public enum ResolutionError: Error, Equatable, CustomStringConvertible {
        case unknown(String)
        case bf16Unsupported(cpu: String)

        public var description: String {
            switch self {
            case .unknown(let text):
                "unknown precision '\(text)'; choose one of \(PrecisionChoice.choices)"
            case .bf16Unsupported(let cpu):
                "bf16 was asked for, but this CPU (\(cpu.isEmpty ? "unknown model" : cpu)) has neither AVX512-BF16 nor AMX-BF16; use --precision fp32 (or auto, which picks fp32 here)"
            }
        }
    }

    /// Parses a flag or job value.
    public static func parse(_ text: String) throws(ResolutionError) -> PrecisionChoice {
        guard let choice = PrecisionChoice(rawValue: text.lowercased()) else { throw .unknown(text) }
        return choice
    }

    /// The precision a job is planned in: what every worker then runs, whatever its own CPU
    /// prefers. `auto` is decided on the planning machine; explicit `bf16` is kept even where
    /// that machine lacks native bf16 (workers round the same way, only more slowly there).
    public func planned(on cpu: CPUFeatures = .current) -> Precision {
        switch self {
        case .fp32: .fp32
        case .bf16: .bf16
        case .auto: cpu.autoBF16.bf16 ? .bf16 : .fp32
        }
    }

    /// The precision to run on `cpu`, and a warning when `auto` fell back to fp32.
    public func resolve(on cpu: CPUFeatures) throws(ResolutionError) -> (precision: Precision, note: String?) {
        switch self {
        case .fp32: return (.fp32, nil)
        case .bf16:
            guard cpu.hasNativeBF16 else { throw .bf16Unsupported(cpu: cpu.brand) }
            return (.bf16, nil)
        case .auto:
            let rule = cpu.autoBF16
            if rule.bf16 { return (.bf16, nil) }
            return (.fp32, "precision auto: running fp32 (\(rule.reason))")
        }
    }
}
