import Foundation
import Platform
import Tensor

/// Makes sure the commands that compute run on the OpenBLAS kernel the CPU deserves, before
/// anything else happens in the process (see `BLASKernelPolicy` for why).
///
/// When OpenBLAS fell back to a generic kernel, the process re-executes itself with
/// `OPENBLAS_CORETYPE` set: OpenBLAS reads it only while it loads, so nothing short of a new
/// process image changes the kernel. The marker variable carries the original choice to the
/// new image (and on to `run`'s workers, which then neither re-execute nor repeat the note).
public enum BLASKernelCheck {
    /// Subcommands that multiply matrices; the rest (submit, status, help, …) start as they are.
    static let computingCommands: Set<String> = [
        "embed-images", "embed-text", "mine-negatives", "worker", "run", "score-features", "rescore", "doctor", "demo",
        // sweep scores stored features; report does with --compare-sequential.
        "sweep", "report",
    ]

    /// For tests only: the core name to act as if OpenBLAS had loaded (dropped on re-execution).
    static let assumedCoreVariable = "ADANEG_BLAS_ASSUME_LOADED_CORE"

    /// Set once a warning about the kernel was printed: the processes this one starts (`run`'s
    /// and `demo`'s workers) inherit it and keep the warning to their summary, so it is
    /// printed once, by the parent, not once per worker.
    static let warnedVariable = "ADANEG_BLAS_WARNED"

    /// Whether the arguments only ask for help or the version: nothing computes, so nothing
    /// is checked, re-executed or warned about.
    static func asksForHelp(_ arguments: [String]) -> Bool {
        let options = arguments.dropFirst().prefix { $0 != "--" }
        return arguments.count > 1 && arguments[1] == "help"
            || options.contains { ["--help", "-h", "--version", "--experimental-dump-help"].contains($0) }
    }

    /// Whether this process printed a warning about the kernel (its children should not).
    nonisolated(unsafe) private(set) static var warned = false

    /// The environment for the worker processes this one starts: its own, plus the mark that
    /// a warning was already printed (Foundation's `Process` does not see `setenv`).
    static var childEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if warned { environment[warnedVariable] = "1" }
        return environment
    }

    /// What was decided for this process, for `doctor` and the worker's first log line.
    public nonisolated(unsafe) private(set) static var summary = "not checked"

    /// Call first thing in `main`. Returns only when the process keeps running as it is.
    public static func ensureRightKernel(arguments: [String] = CommandLine.arguments,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard arguments.count > 1, computingCommands.contains(arguments[1]), !asksForHelp(arguments) else {
            summary = "OpenBLAS kernel \(BLAS.coreName) (not checked for this command)"
            return
        }
        // Tests stand in a generic kernel here to exercise the re-execution on any machine.
        let loaded = environment[assumedCoreVariable] ?? BLAS.coreName
        let decision = BLASKernelPolicy.decide(cpu: .current, loadedCore: loaded, environment: environment)
        switch decision {
        case .keep(let reason):
            if let original = environment[BLASKernelPolicy.markerVariable], original != loaded, !original.isEmpty {
                summary = "OpenBLAS kernel \(loaded) (OpenBLAS had chosen \(original); \(reason))"
            } else {
                summary = "OpenBLAS kernel \(loaded) (\(reason))"
            }
        case .warn(let text):
            if environment[warnedVariable] == nil {
                summary = "OpenBLAS kernel \(loaded) (warning: \(text))"
                StandardError.warn(text)
                warned = true
            } else {
                // A local worker: its parent printed the warning once for all of them.
                summary = "OpenBLAS kernel \(loaded) (as the parent process warned)"
            }
        case .reexecute(let core, let reason):
            StandardError.write("note: \(reason); running on OpenBLAS' \(core) kernel instead (\(BLASKernelPolicy.coreTypeVariable)=\(core))\n")
            setenv(BLASKernelPolicy.coreTypeVariable, core, 1)
            setenv(BLASKernelPolicy.markerVariable, loaded, 1)
            unsetenv(assumedCoreVariable)
            reexecute(arguments)
            // Only reached when exec failed: go on with the kernel we have.
            summary = "OpenBLAS kernel \(loaded) (warning: re-execution with \(BLASKernelPolicy.coreTypeVariable)=\(core) failed: \(String(cString: strerror(errno))))"
            StandardError.warn(summary)
        }
    }

    private static func reexecute(_ arguments: [String]) {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        // /proc/self/exe is this very binary even when argv[0] is a relative name or a link.
        _ = execv("/proc/self/exe", &argv)
        for p in argv { free(p) }
    }
}
