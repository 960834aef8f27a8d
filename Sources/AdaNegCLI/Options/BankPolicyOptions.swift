import ArgumentParser
import Coordinator

/// `--bank-pull-bytes`, `--bank-max-behind`, `--bank-window`: the memory banks' pull budget and
/// staleness bounds (`BankPolicy`; docs/capacity.md has the model), one definition for every
/// command that starts a coordinator (`serve`, `run`, `rescore`, `demo`). Unset, each is
/// `BankPolicy`'s default; a value out of its range exits 2 naming the flag.
struct BankPolicyOptions: ParsableArguments {
    @Option(name: .customLong("bank-pull-bytes"),
            help: ArgumentHelp("Most bytes one bank pull carries (float16 features, whole versions, at least one), \(BankPolicy.pullBytesRange.lowerBound)...\(BankPolicy.pullBytesRange.upperBound) (default \(BankPolicy().pullBytes)).",
                               valueName: "bytes"))
    var pullBytes: Int?
    @Option(name: .customLong("bank-max-behind"),
            help: ArgumentHelp("Accepted entries a worker's bank may lag the coordinator's when it scores a batch (it pulls until it does not), 0...\(BankPolicy.maxBehindRange.upperBound), or off (default \(BankPolicy().maxBehind.map(String.init) ?? "off")).",
                               valueName: "n|off"))
    var maxBehind: String?
    @Option(name: .customLong("bank-window"),
            help: ArgumentHelp("Stream positions past the frontier a batch may be scored at: auto (early units wait for the ones before them), off, or a number \(BankPolicy.windowRange.lowerBound)...\(BankPolicy.windowRange.upperBound) (default auto).",
                               valueName: "auto|off|n"))
    var window: String?

    func validate() throws { _ = try policy() }

    /// The policy the flags give, over `BankPolicy`'s defaults.
    func policy() throws -> BankPolicy {
        var policy = BankPolicy()
        if let pullBytes {
            guard BankPolicy.pullBytesRange.contains(pullBytes) else {
                throw CommandFailure("--bank-pull-bytes must be in \(BankPolicy.pullBytesRange.lowerBound)...\(BankPolicy.pullBytesRange.upperBound) (got \(pullBytes))")
            }
            policy.pullBytes = pullBytes
        }
        if let maxBehind {
            if maxBehind == "off" {
                policy.maxBehind = nil
            } else if let n = Int(maxBehind), BankPolicy.maxBehindRange.contains(n) {
                policy.maxBehind = n
            } else {
                throw CommandFailure("--bank-max-behind must be off or an entry count in \(BankPolicy.maxBehindRange.lowerBound)...\(BankPolicy.maxBehindRange.upperBound) (got '\(maxBehind.prefix(40))')")
            }
        }
        if let window {
            switch window {
            case "auto": policy.window = .automatic
            case "off": policy.window = .off
            default:
                guard let n = Int(window), BankPolicy.windowRange.contains(n) else {
                    throw CommandFailure("--bank-window must be auto, off or a number of positions in \(BankPolicy.windowRange.lowerBound)...\(BankPolicy.windowRange.upperBound) (got '\(window.prefix(40))')")
                }
                policy.window = .positions(n)
            }
        }
        return policy
    }
}
