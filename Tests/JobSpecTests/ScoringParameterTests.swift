import AdaNeg
import Foundation
import Testing
@testable import JobSpec

/// The one definition of every scoring parameter (`ScoringParameter`) and what is derived from
/// it: the job format's keys, its decoder and canonical YAML, `sweep --set`, and the table of
/// `docs/algorithm.md`.
@Suite("Scoring parameters: one definition")
struct ScoringParameterTests {
    let fx = Fixture()

    @Test("the job format's scoring keys are the definitions' keys, in their order")
    func keys() {
        #expect(JobSpecLoader.scoringKeys == ScoringParameter.allCases.map(\.key))
        #expect(JobSpecLoader.scoringKeys == ["memleng", "thres", "gap", "beta", "lambda", "groups", "batch_size", "proxy",
                                              "in_score", "replacement", "variant", "logit_scale"])
        #expect(ScoringParameter.batchSize.flag == "--batch-size" && ScoringParameter.inScore.flag == "--in-score")
    }

    @Test("defaults are ScoringParameters()'s; every value reads back from its text and sets the field it names")
    func roundTrips() throws {
        let defaults = ScoringParameters()
        for p in ScoringParameter.allCases {
            #expect(p.problem(with: p.defaultValue) == nil, "\(p.key)")
            #expect(try p.parse(p.defaultValue.description).get() == p.defaultValue || p.defaultValue.asDouble == (try p.parse(p.defaultValue.description).get()).asDouble)
            // A non-default value changes this parameter and no other.
            let other: ScoringParameter.Value = switch p.domain {
            case .integer(let r): .integer(r.lowerBound + 1)
            case .number(let r): .number(r.lowerBound == 0 ? 0.25 : r.upperBound / 2)
            case .choice(let c): .choice(c.last!)
            }
            var changed = defaults
            #expect(p.set(other, in: &changed))
            for q in ScoringParameter.allCases {
                if q == p { #expect(q.value(in: changed).asDouble ?? 0 == other.asDouble ?? 0 && q.value(in: changed).description == other.description) }
                else { #expect(q.value(in: changed) == q.value(in: defaults), "setting \(p.key) changed \(q.key)") }
            }
        }
    }

    @Test("out-of-range values are refused in the job format's words")
    func problems() {
        var p = ScoringParameters()
        (p.memoryLength, p.threshold, p.gap, p.beta, p.lambda, p.groups, p.batchSize, p.logitScale) = (0, 1.5, -0.1, 101, .infinity, 0, 65_537, 0)
        #expect(p.problems() == [
            "memleng must be at least 1 (got 0)", "thres must be in [0, 1] (got 1.5)", "gap must be in [0, 1] (got -0.1)",
            "beta must be at most 100.0 (got 101.0): larger values make every sample-proxy weight 0 in float32",
            "lambda must be finite (got inf)", "groups must be at least 1 (got 0)", "batch_size must be at most 65536 (got 65537)",
            "logit_scale must be a positive number (got 0.0)",
        ])
        #expect(ScoringParameters().problems().isEmpty)
    }

    @Test("the spec decoder reads every parameter and the canonical YAML writes every one back")
    func specRoundTrip() throws {
        let yaml = minimalFeatures + "\nscoring: {memleng: 3, thres: 0.4, gap: 0.25, beta: 7, lambda: 0.5, groups: 2, batch_size: 16, proxy: sample, in_score: multiply, replacement: first, variant: adagap, logit_scale: 50}\n"
        let spec = try fx.parse(yaml, checkFiles: false)
        let s = spec.scoring
        #expect((s.memoryLength, s.threshold, s.gap, s.beta) == (3, 0.4, 0.25, 7.0))
        #expect((s.lambda, s.groups, s.batchSize) == (0.5, 2, 16))
        #expect((s.proxy, s.inScore, s.replacement, s.variant, s.logitScale) == (.sample, .multiply, .first, .adagap, 50))
        let again = try JobSpecLoader.parse(yaml: spec.canonicalYAML(), baseDirectory: "/", checkFiles: false)
        #expect(again.scoring == s)
        for p in ScoringParameter.allCases { #expect(spec.canonicalYAML().contains("\(p.key): "), "\(p.key) missing from the YAML") }
    }

    @Test("a wrong type or choice in the spec names the key and the choices")
    func specErrors() {
        let problems = fx.problems(minimalFeatures + "\nscoring: {memleng: many, proxy: tsk, gap: 2}\n", checkFiles: false)
        #expect(problems.first { $0.path == "scoring.memleng" }?.message == "expected an integer, found the string \"many\"")
        #expect(problems.first { $0.path == "scoring.proxy" }?.message == "'tsk' is not one of task, sample; did you mean 'task'?")
        #expect(problems.first { $0.path == "scoring.gap" }?.message == "gap must be in [0, 1] (got 2.0)")
    }

    @Test("docs/algorithm.md's parameter table is the definition's")
    func docsTable() throws {
        let page = try String(contentsOfFile: repositoryRoot + "/docs/algorithm.md", encoding: .utf8)
        let table = ScoringParameter.markdownTable()
        #expect(page.contains(table), "docs/algorithm.md must hold exactly this table:\n\(table)")
    }
}

/// `sweep --set`: lists, ranges, and the errors that name the `--set` and the allowed values.
@Suite("Sweep grid")
struct SweepGridTests {
    @Test("lists and ranges make the Cartesian product, the last --set varying fastest")
    func product() throws {
        let grid = try SweepGrid(sets: ["gap=0.3:0.7:0.1", "memleng=5,10", "proxy=task,sample"], base: ScoringParameters())
        #expect(grid.axes.map(\.parameter) == [.gap, .memleng, .proxy])
        #expect(grid.axes[0].values.map(\.description) == ["0.3", "0.4", "0.5", "0.6", "0.7"])
        #expect(grid.pointCount == 20 && grid.points.count == 20)
        #expect(grid.points[0].gap == 0.3 && grid.points[0].memoryLength == 5 && grid.points[0].proxy == .task)
        #expect(grid.points[1].proxy == .sample && grid.points[2].memoryLength == 10)
        #expect(grid.points.last!.gap == 0.7 && grid.points.last!.threshold == 0.5)
        #expect(Set(grid.points.map(\.pointKey)).count == 20)
        // Mixed lists and ranges, flags spelled as flags, duplicates dropped.
        let mixed = try SweepGrid(sets: ["batch-size=32,64:128:32,64"], base: ScoringParameters())
        #expect(mixed.axes[0].values == [.integer(32), .integer(64), .integer(96), .integer(128)])
    }

    @Test("the job's own values fill what is not swept")
    func base() throws {
        var job = ScoringParameters()
        job.memoryLength = 7
        job.proxy = .sample
        let grid = try SweepGrid(sets: ["lambda=0,1"], base: job)
        #expect(grid.points.allSatisfy { $0.memoryLength == 7 && $0.proxy == .sample })
        #expect(grid.points.map(\.lambda) == [0, 1])
    }

    @Test("bad --set values: the message quotes the --set and the allowed values", arguments: [
        ("gapp=0.3", "--set 'gapp=0.3': 'gapp' is not a scoring parameter", "did you mean 'gap'?"),
        ("gap=", "--set 'gap=': an empty list of values", "gap takes numbers 0 to 1"),
        ("gap=0.3,,0.5", "--set 'gap=0.3,,0.5': an empty value in the list", "gap takes numbers 0 to 1"),
        ("gap=0.3,1.5", "--set 'gap=0.3,1.5': gap must be in [0, 1] (got 1.5)", "gap takes numbers 0 to 1"),
        ("memleng=0:4:1", "--set 'memleng=0:4:1': memleng must be at least 1 (got 0)", "memleng takes integers 1 to 1024"),
        ("memleng=2.5", "--set 'memleng=2.5': memleng takes integers 1 to 1024", "'2.5' is not an integer"),
        ("proxy=task,best", "--set 'proxy=task,best': proxy takes task or sample", "'best' is not one of them"),
        ("proxy=a:b:c", "--set 'proxy=a:b:c': the range 'a:b:c'", "not a range"),
        ("gap=0.5:0.3:0.1", "--set 'gap=0.5:0.3:0.1': the range '0.5:0.3:0.1'", "FROM must not be above TO"),
        ("gap=0.3:0.5:0", "--set 'gap=0.3:0.5:0': the range '0.3:0.5:0'", "the step must be a number above 0"),
        ("gap=0.3:0.5", "--set 'gap=0.3:0.5': the range '0.3:0.5'", "is not FROM:TO:STEP"),
        ("beta", "--set 'beta': expected NAME=V1,V2,…", "memleng, thres"),
        ("batch_size=99999999999999999999", "batch_size takes integers 1 to 65536", "out of range"),
    ])
    func refusals(set: String, head: String, tail: String) {
        #expect(throws: SweepGrid.Problem.self) { try SweepGrid(sets: [set], base: ScoringParameters()) }
        do {
            _ = try SweepGrid(sets: [set], base: ScoringParameters())
        } catch {
            #expect(error.description.contains(head) && error.description.contains(tail), "\(error.description)")
        }
    }

    @Test("a parameter set twice, and grids over --max-points, are refused")
    func limits() {
        #expect(throws: SweepGrid.Problem("--set 'gap=0.4': gap is already set by an earlier --set (1 value); give all its values in one --set")) {
            try SweepGrid(sets: ["gap=0.3", "gap=0.4"], base: ScoringParameters())
        }
        let big = ["memleng=1:100:1", "batch_size=1:101:1"]
        #expect(throws: SweepGrid.Problem.self) { try SweepGrid(sets: big, base: ScoringParameters()) }
        do { _ = try SweepGrid(sets: big, base: ScoringParameters()) } catch {
            #expect(error.description.contains("10100 points (100 memleng × 101 batch_size), more than --max-points 10000"))
        }
        #expect((try? SweepGrid(sets: big, base: ScoringParameters(), maxPoints: 20_000))?.pointCount == 10_100)
        // A range far beyond the limit is refused before it is expanded.
        #expect(throws: SweepGrid.Problem.self) { try SweepGrid(sets: ["lambda=-1000000:1000000:0.000001"], base: ScoringParameters()) }
    }
}
