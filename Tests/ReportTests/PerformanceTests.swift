import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

@Suite("Report performance")
struct PerformanceTests {
    /// 300,000 results: three OOD sets, each 50,000 ID + 50,000 OOD samples, 1% errored.
    static func largeData(perSet: Int = 100_000) -> ReportData {
        var state: UInt64 = 99
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        var tasks = [TaskData]()
        for k in 0..<3 {
            var rows = [ResultRecord]()
            rows.reserveCapacity(perSet)
            for p in 0..<perSet {
                let id = p % 2 == 0
                let shift: Float = id ? 0.3 + 0.2 * Float(k) : 0
                var r = Make.resultTemplate
                r.position = p
                r.label = id ? p % 1000 : -1
                if p % 100 == 99 {
                    r.error = "cannot decode image"
                } else {
                    r.pred = uniform() < 0.7 ? r.label : p % 1000
                    r.conf = shift + uniform()
                    r.confVanilla = shift * 0.8 + uniform()
                    r.mcm = shift * 0.5 + uniform()
                    r.adaptive = 0
                }
                rows.append(r)
            }
            // Units of 256 samples done by 8 workers, with completion records: the bank and throughput panels.
            let units = stride(from: 0, to: perSet, by: 256).enumerated().map { i, first in
                UnitRecord(id: Int64(k * 1000 + i), task: Int64(k + 1), firstSample: first, sampleCount: min(256, perSet - first), state: .done,
                           attempts: 1, completedAt: 1_700_000_000 + Double(i) * 0.5 + Double(k) * 200,
                           completion: UnitCompletion(worker: "w\(i % 8)", computeSeconds: 3.5, waitSeconds: 0.5,
                                                      bank: BankOccupancy(idRows: min(1000, 10 * (i + 1)), negativeRows: min(40, i / 10))))
            }
            tasks.append(TaskData(task: Make.task(id: Int64(k + 1), index: k + 1, name: ["iNaturalist", "SUN", "Textures"][k],
                                                  group: "far", samples: perSet), results: rows, units: units))
        }
        let plan = Make.plan(sets: [SetSource(name: "ID", group: nil, features: nil, count: perSet / 2)]
                             + tasks.map { SetSource(name: $0.task.oodName, group: "far", features: nil, count: perSet / 2) }, numID: 1000)
        return ReportData(jobName: "large", jobID: 1, createdAt: nil, specYAML: Make.spec, plan: plan, tasks: tasks,
                          units: Make.units(done: 300), failedUnits: [], workers: [Make.worker], source: "synthetic")
    }

    @Test("300,000 results: metrics, every format, HTML under 2 MB")
    func largeJob() throws {
        let data = Self.largeData()
        let clock = ContinuousClock()
        var report: JobReport?
        let aggregate = clock.measure { report = JobReport(data) }
        let r = try #require(report)
        #expect(r.progress.results == 300_000 && r.progress.errored == 3_000)
        var html = ""
        let renderHTML = try clock.measure { html = try r.render(.html, data: data) }
        let others = try clock.measure { for f in [ReportFormat.table, .json, .csv, .md] { _ = try r.render(f) } }
        let bytes = html.utf8.count
        print("report on 300,000 results: aggregate \(aggregate), html \(renderHTML) (\(bytes) bytes), table+json+csv+md \(others)")
        #expect(bytes <= 2_000_000)
        #expect(RenderingTests.count("<svg class=\"roc\"", in: html) == 3)
        #expect(RenderingTests.count("<svg class=\"bank\"", in: html) == 3 && RenderingTests.count("<svg class=\"throughput\"", in: html) == 1)
    }
}
