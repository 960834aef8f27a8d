import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

@Suite("Report: distributed vs sequential", .serialized)
struct SequentialComparisonTests {
    static let shape = SyntheticBenchmark.Shape(classes: 10, negatives: 60, dimension: 16, idSamples: 200, oodSamples: 120)

    /// Runs the job to the end; with several workers their batches interleave round-robin, so
    /// they hold units at the same time and their banks diverge between syncs.
    func run(_ job: SequentialJob, workers count: Int) async throws {
        var workers = (0..<count).map { MiniWorker(id: "w\($0 + 1)", job: job) }
        var active = true
        while active {
            active = false
            for i in workers.indices {
                if workers[i].grant == nil, !(try await workers[i].lease()) { continue }
                active = true
                _ = try await workers[i].step()
            }
        }
    }

    func report(_ job: SequentialJob) async throws -> (JobReport, ReportData) {
        // A reader beside the live coordinator, as `report --db` opens it.
        let store = try ReportLoader.open(databasePath: await job.coordinator.databasePath)
        let data = try ReportLoader.load(store: store, job: "seq-job", source: "test")
        let run = try SequentialRescore.run(store: store, data: data)
        var report = JobReport(data)
        report.addSequential(run, data: data)
        return (report, data)
    }

    @Test("one worker syncing after every batch: Δ = 0 on every set, and the sequential side equals score-features' path")
    func oneWorker() async throws {
        let job = try await SequentialJob(shape: Self.shape)
        defer { job.remove() }
        try await run(job, workers: 1)
        let (report, data) = try await report(job)
        let c = try #require(report.comparison)
        #expect(c.sets.count == 2 && c.batchSize == 32 && c.label == "AdaNeg (task)" && c.otherMethod == JobReport.otherProxyKey)
        for (k, row) in c.sets.enumerated() {
            let delta = try #require(row.delta)
            #expect(abs(delta.fpr95) <= 1e-6 && abs(delta.auroc) <= 1e-6, "\(row.name): \(delta)")
            #expect((row.maxAbsScoreDelta ?? 1) <= 1e-4)
            #expect(row.compared == 320 && row.missingFeatures == 0)
            // The distributed side is the report's own metrics (complete job: same samples).
            #expect(row.distributed == report.sets[k].metrics["adaneg"])
            // Independent: scoreStream over the stream in order, both proxies.
            for proxy in ProxyKind.allCases {
                let (scores, labels) = try await job.reference(task: data.tasks[k].task.id, proxy: proxy)
                let expected = try OODMetrics.compute(conf: scores.map(\.conf), labels: labels, pred: scores.map(\.pred))
                let got = try #require(proxy == .task ? row.sequential : report.sets[k].metrics[JobReport.otherProxyKey])
                #expect(abs(got.auroc - expected.auroc) <= 1e-6 && abs(got.fpr95 - expected.fpr95) <= 1e-6, "\(proxy): \(got) vs \(expected)")
            }
        }
        #expect(report.methods.last == ReportMethod(key: "adaneg_other", label: "AdaNeg (sample, sequential)", column: "sequential"))
        #expect(report.average.metrics[JobReport.otherProxyKey] != nil)
        #expect(report.groups.allSatisfy { $0.metrics[JobReport.otherProxyKey] != nil })
    }

    @Test("three interleaved workers: the reported differences are the distributed minus the sequential metrics")
    func threeWorkers() async throws {
        let job = try await SequentialJob(kinds: [.covered], shape: Self.shape, batchSize: 16, unitBatches: 2, syncEvery: 2)
        defer { job.remove() }
        try await run(job, workers: 3)
        let (report, data) = try await report(job)
        let row = try #require(report.comparison?.sets.first)
        let stored = data.tasks[0].results
        let distributed = try OODMetrics.compute(conf: stored.map { $0.conf ?? .nan }, labels: stored.map(\.label), pred: stored.map { $0.pred ?? -1 })
        let (scores, labels) = try await job.reference(task: data.tasks[0].task.id, proxy: .task)
        let sequential = try OODMetrics.compute(conf: scores.map(\.conf), labels: labels, pred: scores.map(\.pred))
        #expect(row.distributed == distributed)
        #expect(abs((row.delta?.auroc ?? .nan) - (distributed.auroc - sequential.auroc)) <= 1e-6)
        #expect(abs((row.delta?.fpr95 ?? .nan) - (distributed.fpr95 - sequential.fpr95)) <= 1e-6)
        let maxDelta = zip(stored, scores).map { abs(Double($0.conf ?? .nan) - Double($1.conf)) }.max() ?? .nan
        #expect(abs((row.maxAbsScoreDelta ?? .nan) - maxDelta) <= 1e-4)
        #expect(maxDelta > 0, "three workers with stale banks scored exactly like one stream")
        // Three workers completed units; the average row is the single set's.
        #expect(Set(data.tasks[0].units?.compactMap { $0.completion?.worker } ?? []) == ["w1", "w2", "w3"])
        #expect(report.comparison?.average?.delta == row.delta)
    }

    @Test("the comparison reaches every format: JSON (schema-valid), table, Markdown, CSV, HTML")
    func formats() async throws {
        let job = try await SequentialJob(shape: Self.shape)
        defer { job.remove() }
        try await run(job, workers: 1)
        let (report, data) = try await report(job)
        let schema = SchemaValidator(root: try JSON.parse(try FixtureFiles.read("report.schema.json")))
        let json = try JSON.parse(try report.json())
        #expect(schema.validate(json) == [])
        let comparison = try #require(json["comparison"]?.object)
        #expect(comparison["sets"]?.array?.count == 2 && comparison["other_method"]?.string == "adaneg_other")
        #expect(json["comparison"]?["sets"]?.array?.first?["delta"]?["auroc"]?.double.map { abs($0) <= 1e-6 } == true)
        #expect(json["job"]?["model_checksum"] == nil ? false : true) // present (null: a features job)

        let table = report.tableText()
        #expect(table.contains("Distributed vs sequential: AdaNeg (task), batch size 32"))
        #expect(table.contains("AdaNeg (sample, sequential)"))
        #expect(table.contains("ΔAUROC"))
        let md = report.markdown()
        #expect(md.contains("## Distributed vs sequential") && md.contains("| ΔFPR95 |"))
        let csv = report.csv().split(separator: "\n")
        #expect(csv.filter { $0.hasPrefix("covered,delta,near,AdaNeg (task),") }.count == 1)
        #expect(csv.filter { $0.hasPrefix("Average,sequential,,AdaNeg (task),") }.count == 1)
        #expect(csv.filter { $0.contains(",set,") && $0.contains("AdaNeg (sample, sequential)") }.count == 2)
        let html = try report.render(.html, data: data)
        #expect(html.contains("<section id=\"comparison\">"))
        // Curves are drawn for the stored methods only: 3 per set.
        #expect(RenderingTests.count("class=\"curve\" data-method=", in: html) == 6)
        #expect(RenderingTests.count("<svg class=\"bank\"", in: html) == 2)
        #expect(RenderingTests.count("<svg class=\"throughput\"", in: html) == 1)
    }

    @Test("batches follow stream positions: rows without features leave their batch short")
    func batchesByPosition() {
        #expect(SequentialRescore.batches(positions: [0, 1, 2, 5, 6, 9], batchSize: 4) == [0..<3, 3..<5, 5..<6])
        #expect(SequentialRescore.batches(positions: [4, 5, 6, 7, 8], batchSize: 4) == [0..<4, 4..<5])
        #expect(SequentialRescore.batches(positions: [], batchSize: 4) == [])
        #expect(SequentialRescore.batches(positions: [13], batchSize: 4) == [0..<1])
    }
}
