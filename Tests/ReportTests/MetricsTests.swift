import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

@Suite("Report metrics")
struct MetricsTests {
    /// The fixture of `tools/report/make_fixture.py`: three OOD sets with ties and errored
    /// samples, and scikit-learn's metrics on the usable rows.
    func sklearnData() throws -> (ReportData, JSON) {
        let fixture = try JSON.parse(try FixtureFiles.read("sklearn_sets.json"))
        var tasks = [TaskData]()
        var sources = [SetSource(name: "ID", group: nil, features: nil, count: 120)]
        for (k, set) in (fixture["sets"]?.array ?? []).enumerated() {
            let rows = set["results"]?.array ?? []
            let results = rows.map { r -> ResultRecord in
                func f(_ key: String) -> Float? { r[key]?.double.map { Float($0) } }
                return Make.result(Int(r["position"]!.double!), label: Int(r["label"]!.double!), pred: r["pred"]?.double.map { Int($0) },
                                   conf: f("conf"), vanilla: f("conf_vanilla"), mcm: f("mcm"), error: r["error"]?.string)
            }
            let name = set["name"]!.string!
            sources.append(SetSource(name: name, group: set["group"]?.string, features: nil, count: results.count - 120))
            tasks.append(TaskData(task: Make.task(id: Int64(k + 1), index: k + 1, name: name, group: set["group"]?.string, samples: results.count),
                                  results: results))
        }
        let data = ReportData(jobName: "sk", jobID: 1, createdAt: nil, specYAML: nil, plan: Make.plan(sets: sources, numID: 5), tasks: tasks,
                              units: Make.units(done: 3), failedUnits: [], workers: [], source: "fixture")
        return (data, fixture)
    }

    @Test("metrics per set equal scikit-learn's (ties, errored samples) to 1e-6")
    func matchesScikitLearn() throws {
        let (data, fixture) = try sklearnData()
        let report = JobReport(data)
        let sets = fixture["sets"]!.array!
        #expect(report.sets.count == 3)
        for (s, expected) in zip(report.sets, sets) {
            #expect(s.errored == Int(expected["errored"]!.double!))
            #expect(s.errored > 0)
            for m in ["mcm", "neglabel", "adaneg"] {
                let x = try #require(s.metrics[m], "\(s.name) \(m)")
                let e = expected["expected"]![m]!
                for (key, value) in [("fpr95", x.fpr95), ("fpr95_id_positive", x.fpr95IDPositive), ("auroc", x.auroc),
                                     ("aupr_in", x.auprIn), ("aupr_out", x.auprOut), ("acc", x.accuracy)] {
                    let want = try #require(e[key]?.double)
                    #expect(abs(value - want) <= 1e-6, "\(s.name) \(m) \(key): \(value) vs scikit-learn \(want)")
                }
                #expect(x.idCount == Int(e["id_count"]!.double!))
                #expect(x.oodCount == Int(e["ood_count"]!.double!))
            }
        }
    }

    @Test("set metrics are OODMetrics.compute on the usable rows; the average is OODMetrics.mean")
    func equalsOODMetrics() throws {
        let data = Make.goldenData()
        let report = JobReport(data)
        for (s, t) in zip(report.sets, data.tasks) {
            let ok = t.results.filter { $0.error == nil && $0.pred != nil }
            let direct = try OODMetrics.compute(conf: ok.map { $0.conf! }, labels: ok.map(\.label), pred: ok.map { $0.pred! })
            #expect(s.metrics["adaneg"] == direct)
            let mcm = try OODMetrics.compute(conf: ok.map { $0.mcm! }, labels: ok.map(\.label), pred: ok.map { $0.pred! })
            #expect(s.metrics["mcm"] == mcm)
            #expect(s.idCount == direct.idCount && s.oodCount == direct.oodCount)
        }
        for m in ["mcm", "neglabel", "adaneg"] {
            #expect(report.average.metrics[m] == OODMetrics.mean(report.sets.compactMap { $0.metrics[m] }))
        }
        #expect(report.sets[1].errored == 2)
        #expect(report.progress.errored == 2)
        #expect(report.sampleErrors.count == 1 && report.sampleErrors[0].count == 2 && report.sampleErrors[0].positions == [5, 30])
    }

    @Test("near and far groups are averaged separately, near first")
    func groups() throws {
        let (data, _) = try sklearnData()
        let report = JobReport(data)
        #expect(report.groups.map(\.name) == ["near", "far"])
        #expect(report.groups[0].sets == ["SSB-hard", "NINCO"])
        let near = report.sets.filter { $0.group == "near" }
        #expect(report.groups[0].metrics["adaneg"] == OODMetrics.mean(near.compactMap { $0.metrics["adaneg"] }))
        #expect(report.average.sets.count == 3)
    }

    @Test("a running job is reported as far as it got and marked partial")
    func partialJob() throws {
        let report = JobReport(Make.goldenData(partial: true))
        #expect(report.progress.partial)
        #expect(!report.sets[0].partial)
        #expect(report.sets[1].partial && report.sets[1].missing == 12)
        #expect(report.average.partial)
        #expect(report.sets[1].metrics["adaneg"] != nil)
        #expect(report.tableText().contains("PARTIAL: 4/6 units done"))
        #expect(report.tableText().contains("SSB-hard*"))
    }

    @Test("a set with no OOD result yet has no metrics and says why")
    func noMetricsYet() throws {
        var data = Make.goldenData()
        data.tasks[0].results = data.tasks[0].results.filter { $0.label >= 0 }
        let report = JobReport(data)
        #expect(report.sets[0].metrics.isEmpty)
        #expect(report.sets[0].note?.contains("both ID and OOD") == true)
        #expect(report.sets[0].partial)
        // The average is over the sets that have metrics, and flagged.
        #expect(report.average.metrics["adaneg"] == report.sets[1].metrics["adaneg"])
        #expect(report.average.partial)
        #expect(report.tableText().contains("Textures: no metrics"))
    }

    @Test("seed and model come from the plan when it records them, whatever the stored spec says")
    func planFields() {
        var data = Make.goldenData()
        data.plan.seed = 42
        data.plan.modelName = "/models/clip-b16"
        data.specYAML = "seed: 7\nmodel: /elsewhere\n"
        let report = JobReport(data)
        #expect(report.job.seed == 42)
        #expect(report.job.model == "/models/clip-b16")
    }

    @Test("seed and model come from the stored spec")
    func specFields() {
        let report = JobReport(Make.goldenData())
        #expect(report.job.seed == 11)
        #expect(report.job.model == nil)
        var quoted = Make.goldenData()
        quoted.specYAML = (quoted.specYAML ?? "") + "model: \"/m/clip\"\n"
        #expect(JobReport(quoted).job.model == "/m/clip")
        #expect(report.workerCount == 1)
        #expect(report.methods.map(\.label) == ["MCM", "NegLabel", "AdaNeg (task)"])
    }
}
