@testable import AdaNegCLI
import Coordinator
import Foundation
import Testing

/// A flag's value that is not one (a malformed number, an unknown choice or format) is refused
/// input: exit 2 naming the flag, like every other refusal (`CommandFailure`), in every command.
/// A command line malformed as such (an unknown flag, a missing argument) stays a usage error, 64.
@Suite("Bad flag values")
struct BadFlagValueCLITests {
    /// One member per command and kind of value: the command line, and the flag the message names.
    static let badValues: [(arguments: [String], flag: String)] = [
        (["score-features", "--image-features", "x.npy", "--text-features", "t.npy", "--num-id", "1", "--memleng", "abc"], "--memleng"),
        (["score-features", "--image-features", "x.npy", "--text-features", "t.npy", "--num-id", "1e"], "--num-id"),
        (["score-features", "--image-features", "x.npy", "--text-features", "t.npy", "--num-id", "1", "--thres", "0.5x"], "--thres"),
        (["score-features", "--image-features", "x.npy", "--text-features", "t.npy", "--num-id", "1", "--proxy", "neither"], "--proxy"),
        (["run", "job.yaml", "--workers", "two"], "--workers"),
        (["rescore", "--db", "x.sqlite", "job", "--gap", "half"], "--gap"),
        (["demo", "--classes", "1O"], "--classes"),
        (["serve", "--db", "x.sqlite", "--lease-seconds", "sixty"], "--lease-seconds"),
        (["serve", "--db", "x.sqlite", "--port", "80a"], "--port"),
        (["worker", "--coordinator", "http://127.0.0.1:9", "--threads", "-"], "--threads"),
        (["status", "--db", "x.sqlite", "--watch", "soon"], "--watch"),
        (["sweep", "--db", "x.sqlite", "job", "--set", "memleng=5", "--max-points", "many"], "--max-points"),
        (["sweep", "--db", "x.sqlite", "job", "--set", "memleng=5", "--format", "docx"], "--format"),
        (["report", "--db", "x.sqlite", "job", "--format", "docx"], "--format"),
        (["synthesize", "--out", "d", "--dim", "5l2"], "--dim"),
        (["mine-negatives", "--model", "m", "--classes", "c.txt", "--out", "o", "--count", "10k"], "--count"),
        (["embed-text", "--model", "m", "--texts", "t.txt", "--out", "o.npy", "--precision", "fp64"], "--precision"),
        // The banks' policy flags, in every command that starts a coordinator.
        (["serve", "--db", "x.sqlite", "--bank-pull-bytes", "12"], "--bank-pull-bytes"),
        (["serve", "--db", "x.sqlite", "--bank-pull-bytes", "1MB"], "--bank-pull-bytes"),
        (["run", "job.yaml", "--bank-max-behind", "-3"], "--bank-max-behind"),
        (["rescore", "--db", "x.sqlite", "job", "--bank-max-behind", "lots"], "--bank-max-behind"),
        (["demo", "--bank-window", "sideways"], "--bank-window"),
        (["run", "job.yaml", "--bank-window", "0"], "--bank-window"),
        // Where workers read their rows (`WorkerRowsOptions`): the worker and every command that starts workers.
        (["worker", "--coordinator", "http://127.0.0.1:9", "--rows", "remote"], "--rows"),
        (["run", "job.yaml", "--rows", "Local"], "--rows"),
        (["demo", "--rows", ""], "--rows"),
        (["rescore", "--db", "x.sqlite", "job", "--rows", "files"], "--rows"),
        // Ranges several commands share (`SharedFlagRanges`): every member refuses alike.
        (["run", "job.yaml", "--simulate-batch-ms", "70000"], "--simulate-batch-ms"),
        (["worker", "--coordinator", "http://127.0.0.1:9", "--simulate-batch-ms", "-1"], "--simulate-batch-ms"),
        (["embed-text", "--model", "m", "--texts", "t.txt", "--out", "o.npy", "--threads", "0"], "--threads"),
        (["embed-images", "--model", "m", "--images", "l.txt", "--out", "o.npy", "--threads", "100000"], "--threads"),
    ]

    @Test("a malformed or unknown flag value exits 2 naming the flag, before anything is opened", arguments: 0..<badValues.count)
    func badValue(_ index: Int) throws {
        let (arguments, flag) = Self.badValues[index]
        let result = try CLI.run(arguments)
        #expect(result.status == 2, "\(arguments.joined(separator: " ")): status \(result.status), stderr: \(result.stderr)")
        #expect(result.stderr.contains(flag), "\(arguments.joined(separator: " ")): \(result.stderr)")
        #expect(result.stderr.hasPrefix("error: "), "adaneg's own form: \(result.stderr)")
    }

    @Test("an unknown flag or a missing argument is a malformed command line: 64")
    func usageErrors() throws {
        for arguments in [["score-features", "--no-such-flag"], ["run"], ["serve", "--db"], ["report", "--db", "a", "--coordinator", "http://127.0.0.1:9"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 64, "\(arguments): status \(result.status), stderr: \(result.stderr)")
        }
    }

    @Test("the bank flags give BankPolicy's defaults unset, and their values set")
    func bankPolicy() throws {
        let defaults = try BankPolicyOptions.parse([]).policy()
        #expect(defaults.pullBytes == BankPolicy().pullBytes && defaults.maxBehind == BankPolicy().maxBehind && defaults.window == BankPolicy().window)
        let set = try BankPolicyOptions.parse(["--bank-pull-bytes", "65536", "--bank-max-behind", "off", "--bank-window", "96"]).policy()
        #expect(set.pullBytes == 65536 && set.maxBehind == nil && set.window == .positions(96))
        let other = try BankPolicyOptions.parse(["--bank-max-behind", "32", "--bank-window", "off"]).policy()
        #expect(other.maxBehind == 32 && other.window == .off)
        #expect(try BankPolicyOptions.parse(["--bank-window", "auto"]).policy().window == .automatic)
    }
}
