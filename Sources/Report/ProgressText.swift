import Foundation
import JobPlan

/// `adaneg status`: a job's progress as a few lines of text.
public enum ProgressText {
    public static func render(_ p: JobProgress) -> String {
        let u = p.units
        var lines = ["job \(p.job): \(u.done)/\(u.total) units done, \(u.leased) leased, \(u.pending) pending, \(u.failed) failed; "
            + "\(p.results)/\(p.samples) samples scored" + (p.errored > 0 ? " (\(p.errored) errored)" : "")]
        lines.append("  " + speedLine(p))
        for t in p.tasks {
            lines.append("  task \(t.id) \(t.name)\(t.group.map { " (\($0))" } ?? ""): \(t.units.done)/\(t.units.total) units done, "
                + "\(t.results)/\(t.samples) samples, bank version \(t.bankVersion)")
        }
        for f in p.failed {
            lines.append("  failed unit \(f.unit) (task \(f.task)) after \(f.attempts) attempts: \(f.error)")
        }
        if p.workers.isEmpty { lines.append("  no worker has worked on this job yet") }
        for w in p.workers {
            var line = "  worker \(w.id)\(w.host.isEmpty ? "" : " on \(w.host)"): "
            line += w.leased > 0 ? "working (\(w.leased) unit\(w.leased == 1 ? "" : "s") leased), " : "idle, "
            line += "\(w.unitsDone) units, \(w.samplesDone) samples"
            if let r = w.samplesPerComputeSecond { line += String(format: ", %.1f samples/s computing", r) }
            line += ", last heartbeat \(duration(w.heartbeatAge)) ago"
            lines.append(line)
        }
        if p.expiredLeases > 0 { lines.append("  leases expired since the coordinator started: \(p.expiredLeases)") }
        return lines.joined(separator: "\n")
    }

    /// Throughput and ETA, or why there is none.
    static func speedLine(_ p: JobProgress) -> String {
        switch p.units.state {
        case .failed: return "FAILED: every unit failed (the failed units below say why); no sample has a result"
        case .finishedWithFailures:
            return "finished with failures: \(p.units.failed) of \(p.units.total) units failed (their samples have no results)"
        case .complete: return "finished"
        case .running: break
        }
        guard let t = p.throughput else { return "throughput: not measured yet (no completed unit with timing); ETA unknown" }
        let basis = t.basis == "completions"
            ? "over the last \(t.units + 1) completed units, \(duration(t.seconds))"
            : "from one unit's compute and wait time"
        let eta = p.etaSeconds.map { "ETA \(duration($0)) for \(p.remainingSamples) samples" } ?? "ETA unknown"
        return String(format: "%.1f samples/s", t.samplesPerSecond) + " (\(basis)); " + eta
    }

    /// "42 s", "5 min 12 s", "3 h 07 min", "2 d 4 h".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "–" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(max(s, 0)) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        if s < 86400 { return String(format: "%d h %02d min", s / 3600, (s % 3600) / 60) }
        return "\(s / 86400) d \((s % 86400) / 3600) h"
    }
}
