@testable import AdaNegCLI
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import Testing

/// `run`'s progress line: no rate or ETA before this run has scored anything, and a resumed
/// run's stored results do not inflate its rate (issue 13: "ETA 0 s", "202523 samples/s").
@Suite("run's progress line")
struct ProgressLineTests {
    func status(results: Int, samples: Int = 2000) -> JobStatus {
        var units = UnitCounts()
        units.done = results / 100
        units.pending = (samples - results) / 100
        return JobStatus(job: "j", units: units, samples: samples, results: results, tasks: [], failed: [], workers: [],
                         expiredLeases: 0, now: 0)
    }

    @Test("before any work: no rate, no ETA")
    func beforeWork() {
        var baseline: Int?
        let line = ProgressLine.line(status(results: 0), elapsed: 0.4, baseline: &baseline)
        #expect(line.hasSuffix("0/2000 samples  ETA —"), "\(line)")
        #expect(!line.contains("samples/s"))
    }

    @Test("a resumed run counts only what it scored itself")
    func resumed() {
        var baseline: Int?
        // 1000 results were stored by an earlier run; 0.2 s in, nothing new yet.
        #expect(ProgressLine.line(status(results: 1000), elapsed: 0.2, baseline: &baseline).hasSuffix("ETA —"))
        #expect(baseline == 1000)
        // 10 s in, 100 more: 10 samples/s, 900 left.
        let line = ProgressLine.line(status(results: 1100), elapsed: 10, baseline: &baseline)
        #expect(line.hasSuffix("1100/2000 samples  10 samples/s  ETA 90 s"), "\(line)")
    }
}
