import Foundation
import JobPlan
import JobProtocol
import Platform

/// `adaneg status`: a job's progress as a few lines of text. Every name and message in it came
/// from a spec, a worker or a file, so each is escaped (`TerminalText`) before it reaches the
/// terminal: a worker id with an escape sequence prints as `\u{1b}…`, never as one.
public enum ProgressText {
    public static func render(_ p: JobProgress) -> String {
        let u = p.units
        var lines = ["job \(safe(p.job)): \(u.done)/\(Plural.count(u.total, "unit")) done, \(u.leased) leased, \(u.pending) pending, \(u.failed) failed\(u.cancelled > 0 ? ", \(u.cancelled) cancelled" : ""); "
            + "\(p.results)/\(Plural.count(p.samples, "sample")) scored" + (p.errored > 0 ? " (\(p.errored) errored)" : "")]
        lines.append("  " + speedLine(p))
        if let by = p.submittedBy { lines.append("  submitted by token \(safe(by))") }
        if let elapsed = p.elapsedSeconds {
            lines.append("  elapsed \(duration(elapsed))" + (p.finishedAt == nil ? " since submission" : " from submission to the last unit"))
        }
        for t in p.tasks {
            lines.append("  task \(t.id) \(safe(t.name))\(t.group.map { " (\(safe($0)))" } ?? ""): \(t.units.done)/\(Plural.count(t.units.total, "unit")) done, "
                + "\(t.results)/\(Plural.count(t.samples, "sample")), bank version \(t.bankVersion)")
        }
        for f in p.failed {
            lines.append("  failed unit \(f.unit) (task \(f.task)) after \(Plural.count(f.attempts, "attempt")): \(safe(f.error))")
        }
        if p.workers.isEmpty { lines.append("  no worker has worked on this job yet") }
        for w in p.workers {
            var line = "  worker \(safe(w.id))\(w.host.isEmpty ? "" : " on \(safe(w.host))"): "
            if w.gone == true {
                line += "gone (not seen for \(duration(w.heartbeatAge))), "
            } else {
                line += w.leased > 0 ? "working (\(Plural.count(w.leased, "unit")) leased), " : "idle, "
            }
            line += "\(Plural.count(w.unitsDone, "unit")), \(Plural.count(w.samplesDone, "sample"))"
            if let r = w.samplesPerComputeSecond { line += String(format: ", %.1f samples/s computing", r) }
            if w.gone != true { line += ", last heartbeat \(duration(w.heartbeatAge)) ago" }
            lines.append(line)
        }
        if p.expiredLeases > 0 { lines.append("  leases expired since the coordinator started: \(p.expiredLeases)") }
        return lines.joined(separator: "\n")
    }

    /// A value from outside on one line, control characters escaped.
    static func safe(_ text: String) -> String { TerminalText.escaped(text, limit: 200) }

    /// Throughput and ETA, or why there is none.
    static func speedLine(_ p: JobProgress) -> String {
        switch p.units.state {
        case .failed: return "FAILED: every unit failed (the failed units below say why); no sample has a result"
        case .finishedWithFailures:
            return "finished with failures: \(p.units.failed) of \(Plural.count(p.units.total, "unit")) failed (their samples have no results)"
        case .complete: return "finished"
        case .cancelled:
            return "CANCELLED: \(p.units.cancelled) of \(Plural.count(p.units.total, "unit")) dropped; the \(p.units.done) done keep their results"
        case .running: break
        }
        guard let t = p.throughput else { return "throughput: not measured yet (no completed unit with timing); ETA unknown" }
        let basis = t.basis == "completions"
            ? "over the last \(Plural.count(t.units + 1, "completed unit")), \(duration(t.seconds))"
            : "from one unit's compute and wait time"
        let eta = p.etaSeconds.map { "ETA \(duration($0)) for \(Plural.count(p.remainingSamples, "sample"))" } ?? "ETA unknown"
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
