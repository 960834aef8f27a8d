import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

/// The HTML report's run panels (bank occupancy, throughput per worker), the model checksum,
/// and `adaneg status`'s text.
@Suite("Report panels and status")
struct PanelsTests {
    static let t0 = 1_700_000_100.0

    /// The golden job with units of 8 samples per task: done by w1 and w2 alternately, 10 s
    /// apart, each busy 4 s computing and 1 s waiting; the bank grows by one ID row and three
    /// negative rows per unit (ID rows capped at the 4 classes). `recorded: false` is a
    /// database from before completion records.
    static func data(recorded: Bool = true) -> ReportData {
        var data = Make.goldenData()
        for k in data.tasks.indices {
            let n = data.tasks[k].task.sampleCount
            data.tasks[k].units = stride(from: 0, to: n, by: 8).enumerated().map { i, first in
                let bank = BankOccupancy(idRows: min(4, i + 1), negativeRows: 3 * (i + 1))
                return UnitRecord(id: Int64(100 * k + i), task: data.tasks[k].task.id, firstSample: first, sampleCount: min(8, n - first),
                                  state: .done, attempts: 1, completedAt: t0 + Double(10 * i + k),
                                  completion: recorded ? UnitCompletion(worker: i % 2 == 0 ? "w1" : "w2", computeSeconds: 4, waitSeconds: 1, bank: bank) : nil)
            }
        }
        return data
    }

    static func html(_ data: ReportData) throws -> String { try JobReport(data).render(.html, data: data) }

    static func section(_ id: String, in html: String) -> String {
        guard let start = html.range(of: "<section id=\"\(id)\">"), let end = html.range(of: "</section>", range: start.upperBound..<html.endIndex) else { return "" }
        return String(html[start.lowerBound..<end.upperBound])
    }

    @Test("bank occupancy: one chart per set, ID and negative rows, ending at the last unit's occupancy")
    func bankPanel() throws {
        let html = try Self.html(Self.data())
        let bank = Self.section("bank", in: html)
        #expect(RenderingTests.count("<svg class=\"bank\"", in: bank) == 2)
        #expect(RenderingTests.count("data-kind=\"id\"", in: bank) == 2 && RenderingTests.count("data-kind=\"negative\"", in: bank) == 2)
        // Textures: 40 samples → 5 units → 4/4 ID rows, 15/40 negative rows; SSB-hard: 44 → 6 units → 18/40.
        #expect(bank.contains("ID rows 4/4 (100.0%)") && bank.contains("negative rows 15/40 (37.5%)") && bank.contains("negative rows 18/40 (45.0%)"))
        // The negative line of Textures ends at x = the stream's end, y = 37.5% of the plot.
        let path = try #require(bank.range(of: "data-kind=\"negative\" d=\"").map { String(bank[$0.upperBound...].prefix { $0 != "\"" }) })
        let last = try #require(path.split(separator: "L").last?.split(separator: ",").compactMap { Double($0) })
        let expected: [Double] = [40.0 + 288.0, 24.0 + 0.625 * 132.0]
        #expect(last == expected)
    }

    @Test("throughput per worker: lines per worker and the job, samples conserved across bins, a table of totals")
    func throughputPanel() throws {
        let data = Self.data()
        let html = try Self.html(data)
        let panel = Self.section("throughput", in: html)
        #expect(RenderingTests.count("<svg class=\"throughput\"", in: panel) == 1)
        #expect(panel.contains("data-worker=\"w1\"") && panel.contains("data-worker=\"w2\"") && panel.contains("class=\"line total\""))
        // Totals per worker, computed from the units.
        let units = data.tasks.flatMap { $0.units ?? [] }
        for w in ["w1", "w2"] {
            let mine = units.filter { $0.completion?.worker == w }
            let samples = mine.reduce(0) { $0 + $1.sampleCount }
            let rate = String(format: "%.1f", Double(samples) / (4.0 * Double(mine.count)))
            #expect(panel.contains("<tr><td>\(w)</td><td class=\"num\">\(mine.count)</td><td class=\"num\">\(samples)</td>"), "\(w)")
            #expect(panel.contains("<td class=\"num\">\(rate)</td><td class=\"num\">20%</td></tr>"), "\(w) \(rate)")
        }
        // Spreading each unit over its busy time keeps every sample: Σ rate × bin width = samples.
        let report = HTMLReport(report: JobReport(data), data: data, options: .init())
        let spans = try #require(report.workSpans())
        let binned = HTMLReport.binnedRates(spans, workers: ["w1", "w2"], bins: 40)
        let width = (binned.t1 - binned.t0) / 40
        let total = binned.rates.flatMap { $0 }.reduce(0, +) * width
        #expect(abs(total - Double(units.reduce(0) { $0 + $1.sampleCount })) < 1e-9)
        // w1 has at most two units in flight (one per task), each 8 samples over 5 s.
        #expect(binned.rates[0].allSatisfy { $0 <= 2 * 8.0 / 5 + 1e-6 })
        #expect(abs((binned.rates[0].max() ?? 0) - 2 * 8.0 / 5) < 1e-6)
    }

    @Test("units without completion records say 'not recorded'; a report over HTTP says the panels need --db")
    func notRecorded() throws {
        let old = try Self.html(Self.data(recorded: false))
        #expect(RenderingTests.count("<svg class=\"bank\"", in: old) == 0 && RenderingTests.count("<svg class=\"throughput\"", in: old) == 0)
        #expect(RenderingTests.count("not recorded", in: Self.section("bank", in: old)) == 2)
        #expect(Self.section("throughput", in: old).contains("not recorded"))
        #expect(Self.section("progress-timeline", in: old).contains("<svg class=\"timeline\""), "completion times alone still give the timeline")
        let http = try Self.html(Make.goldenData())
        #expect(Self.section("bank", in: http).contains("Not available") && Self.section("throughput", in: http).contains("Not available"))
    }

    @Test("the model checksum is in the JSON (schema-valid), Markdown and HTML; null for a features job")
    func modelChecksum() throws {
        var data = Make.goldenData()
        let schema = SchemaValidator(root: try JSON.parse(try FixtureFiles.read("report.schema.json")))
        let plain = try JSON.parse(try JobReport(data).json())
        #expect(schema.validate(plain) == [])
        if case .null? = plain["job"]?["model_checksum"] {} else { Issue.record("model_checksum should be null for a features job") }
        data.plan.model = ModelSource(path: "/models/clip-b32", checksum: "sha256:0123abcd", resize: 256, crop: 224)
        let report = JobReport(data)
        let json = try JSON.parse(try report.json())
        #expect(schema.validate(json) == [])
        #expect(json["job"]?["model_checksum"]?.string == "sha256:0123abcd")
        #expect(json["job"]?["model"]?.string == "/models/clip-b32")
        #expect(report.markdown().contains("- model checksum sha256:0123abcd"))
        #expect(try report.render(.html, data: data).contains("<tr><th>model checksum</th><td>sha256:0123abcd</td></tr>"))
    }

    // MARK: Status

    static func progress() -> JobProgress {
        var units = UnitCounts()
        units.done = 6; units.leased = 2; units.pending = 4; units.failed = 1
        var t1 = UnitCounts(); t1.done = 4; t1.leased = 1; t1.pending = 1
        var t2 = UnitCounts(); t2.done = 2; t2.leased = 1; t2.pending = 3; t2.failed = 1
        return JobProgress(
            job: "imagenet", now: 5_000, units: units, samples: 3_328, results: 1_536, errored: 12, remainingSamples: 1_536,
            throughput: .init(samplesPerSecond: 12.8, units: 5, seconds: 100, basis: "completions"), etaSeconds: 120,
            tasks: [.init(id: 1, name: "iNaturalist", group: "far", samples: 1_536, results: 1_024, units: t1, bankVersion: 40),
                    .init(id: 2, name: "SSB-hard", group: "near", samples: 1_792, results: 512, units: t2, bankVersion: 17)],
            workers: [.init(id: "w1", host: "node-a", lastSeen: 4_998, heartbeatAge: 2, leased: 1, unitsDone: 4, samplesDone: 1_024,
                            computeSeconds: 80, samplesPerComputeSecond: 12.8),
                      .init(id: "w2", host: "", lastSeen: 4_000, heartbeatAge: 1_000, leased: 0, unitsDone: 0, samplesDone: 0,
                            computeSeconds: 0, samplesPerComputeSecond: nil)],
            failed: [FailedUnit(unit: 9, task: 2, attempts: 3, error: "out of memory")], expiredLeases: 2)
    }

    @Test("status text: progress, samples/s, ETA, tasks, failed units, workers with heartbeat age")
    func statusText() {
        let expected = """
            job imagenet: 6/13 units done, 2 leased, 4 pending, 1 failed; 1536/3328 samples scored (12 errored)
              12.8 samples/s (over the last 6 completed units, 1 min 40 s); ETA 2 min 0 s for 1536 samples
              task 1 iNaturalist (far): 4/6 units done, 1024/1536 samples, bank version 40
              task 2 SSB-hard (near): 2/7 units done, 512/1792 samples, bank version 17
              failed unit 9 (task 2) after 3 attempts: out of memory
              worker w1 on node-a: working (1 unit leased), 4 units, 1024 samples, 12.8 samples/s computing, last heartbeat 2 s ago
              worker w2: idle, 0 units, 0 samples, last heartbeat 16 min 40 s ago
              leases expired since the coordinator started: 2
            """
        #expect(ProgressText.render(Self.progress()) == expected)
        var done = Self.progress()
        done.remainingSamples = 0
        done.units = UnitCounts()
        done.units.done = 12
        done.units.failed = 1
        #expect(ProgressText.speedLine(done) == "finished with failures: 1 of 13 units failed (their samples have no results)")
        // Every unit failed: the job failed; it is not "not finished" nor an ETA.
        done.units.done = 0
        #expect(ProgressText.speedLine(done).hasPrefix("FAILED: every unit failed"))
        done.units.failed = 0
        done.units.done = 13
        #expect(ProgressText.speedLine(done) == "finished")
        var fresh = Self.progress()
        fresh.throughput = nil
        fresh.etaSeconds = nil
        #expect(ProgressText.speedLine(fresh).contains("not measured yet"))
        #expect(["42 s", "5 min 12 s", "3 h 07 min", "2 d 4 h"] == [42.0, 312, 11_220, 187_200].map(ProgressText.duration))
    }
}
