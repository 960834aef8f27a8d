import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

/// Issue 22: `status` shows the elapsed time, marks workers that have exited as gone, and
/// prints every name and message from outside escaped.
@Suite("Status text: elapsed, gone workers, escaping")
struct StatusTextTests {
    static func progress(workers: [JobProgress.WorkerProgress], failed: [FailedUnit] = [], startedAt: Double? = 1_000,
                         finishedAt: Double? = nil, remaining: Int = 10) -> JobProgress {
        var units = UnitCounts()
        units.done = 1; units.pending = 1
        return JobProgress(job: "j", now: 5_000, units: units, samples: 20, results: 10, errored: 0, remainingSamples: remaining,
                           tasks: [], workers: workers, failed: failed, expiredLeases: 0,
                           startedAt: startedAt, finishedAt: finishedAt, leaseSeconds: 60)
    }

    static func worker(_ id: String, host: String = "h", age: Double, gone: Bool?) -> JobProgress.WorkerProgress {
        .init(id: id, host: host, lastSeen: 5_000 - age, heartbeatAge: age, leased: 0, unitsDone: 1, samplesDone: 8,
              computeSeconds: 1, samplesPerComputeSecond: nil, gone: gone)
    }

    @Test("elapsed since submission while running; to the last unit once finished; absent from an older coordinator")
    func elapsed() {
        #expect(ProgressText.render(Self.progress(workers: [])).contains("\n  elapsed 1 h 06 min since submission\n"))
        let done = ProgressText.render(Self.progress(workers: [], finishedAt: 1_090, remaining: 0))
        #expect(done.contains("elapsed 1 min 30 s from submission to the last unit"), "\(done)")
        #expect(!ProgressText.render(Self.progress(workers: [], startedAt: nil)).contains("elapsed"))
    }

    @Test("a worker not seen for longer than the lease is gone; singular and plural counts")
    func goneWorkers() {
        let text = ProgressText.render(Self.progress(workers: [Self.worker("alive", age: 2, gone: false), Self.worker("dead", age: 600, gone: true)]))
        #expect(text.contains("worker alive on h: idle, 1 unit, 8 samples, last heartbeat 2 s ago"), "\(text)")
        #expect(text.contains("worker dead on h: gone (not seen for 10 min 0 s), 1 unit, 8 samples"), "\(text)")
        #expect(!text.contains("1 units"), "\(text)")
    }

    @Test("worker ids, host names, job names and failure messages with control characters are escaped")
    func escaped() {
        var p = Self.progress(workers: [Self.worker("w\u{1b}]0;owned\u{7}\nforged", host: "h\u{1b}[2J", age: 1, gone: false)],
                              failed: [FailedUnit(unit: 1, task: 1, attempts: 1, error: "boom\r\nforged\u{1b}[31m")])
        p.job = "j\u{1b}c"
        let text = ProgressText.render(p)
        #expect(!text.contains("\u{1b}") && !text.contains("\u{7}") && !text.contains("\r"), "\(text.debugDescription)")
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("forged") })
        #expect(text.contains(#"worker w\u{1b}]0;owned\u{7}\u{a}forged on h\u{1b}[2J"#), "\(text)")
        #expect(text.contains(#"after 1 attempt: boom\u{d}\u{a}forged\u{1b}[31m"#), "\(text)")
        #expect(text.hasPrefix(#"job j\u{1b}c:"#))
    }
}
