import AdaNeg
import Crypto
import Foundation
@testable import JobStore
import NPY
import Report
import Testing

/// `adaneg sweep`: a grid of scoring configurations over a job's stored features.
@Suite("Sweep CLI")
struct SweepCLITests {
    /// A finished features job (two OOD sets) in `s`'s `db.sqlite`.
    static func job(_ s: Scratch, name: String = "swept") throws -> String {
        let data = SyntheticBenchmark(shape: .init(classes: 10, negatives: 50, dimension: 16, idSamples: 600, oodSamples: 400), seed: 11)
        try DemoFiles.write(data, to: s)
        try """
        name: \(name)
        id: {num_classes: 10, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, group: near, features: ood-covered.npy}
          - {name: uncovered, group: far, features: ood-uncovered.npy}
        negatives: {count: 50, text_features: text.npy}
        scoring: {batch_size: 50, memleng: 4}
        unit_batches: 2
        """.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        let db = s.path("db.sqlite")
        let run = try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        return db
    }

    static func digest(_ path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    @Test("every point equals rescore (one worker) with the same values: per sample within 1e-6, and the metrics")
    func equalsRescore() throws {
        let s = try Scratch()
        let db = try Self.job(s)
        let sweep = try CLI.run(["sweep", "--db", db, "swept", "--set", "memleng=2,6", "--set", "proxy=task,sample",
                                 "--set", "batch_size=50,32", "--format", "json", "--out", s.path("sweep.json")])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.path("sweep.json")))) as! [String: Any]
        #expect(json["job"] as? String == "swept")
        let points = try #require(json["points"] as? [[String: Any]])
        #expect(points.count == 8)
        for (k, values) in [(0, ["--memleng", "2", "--proxy", "task", "--batch-size", "50"]),
                            (7, ["--memleng", "6", "--proxy", "sample", "--batch-size", "32"])] {
            let name = "r\(k)"
            let rescore = try CLI.run(["rescore", "--db", db, "swept", "--name", name, "--workers", "1"] + values)
            #expect(rescore.status == 0, "\(rescore.stderr)")
            // Per sample: the rescore's stored results against the sweep engine on the same point.
            let store = try StoreReader(readingAt: db)
            let inputs = try SweepInputs.load(store: store, job: "swept")
            let params = try #require(points[k]["params"] as? [String: Any])
            var p = inputs.plan.scoring
            for parameter in ScoringParameter.allCases {
                let text = try #require(params[parameter.key].map { "\($0)" })
                parameter.set(try parameter.parse(text).get(), in: &p)
            }
            #expect(p.memoryLength == Int(values[1]) && p.proxy.rawValue == values[3] && p.batchSize == Int(values[5]))
            let rescored = try #require(try store.job(named: name))
            for (task, (stream, rescoreTask)) in zip(inputs.tasks, zip(inputs.streams, try store.tasks(job: rescored.id))) {
                let mine = try SweepScorer.score(features: stream.features, positions: stream.positions, text: inputs.text,
                                                 numID: inputs.plan.numID, permutation: inputs.permutation, points: [p], threads: 2)[0]
                let theirs = try store.results(task: rescoreTask.id)
                try #require(theirs.count == stream.positions.count, "task \(task.oodName)")
                for (i, (m, r)) in zip(mine, theirs).enumerated() {
                    let score = try #require(r.outcome.score)
                    #expect(r.position == stream.positions[i])
                    #expect(m.pred == score.pred && m.predStatic == score.predStatic)
                    #expect(abs(m.conf - score.conf) <= 1e-6 && abs(m.confVanilla - score.confVanilla) <= 1e-6 && abs(m.mcm - score.mcm) <= 1e-6,
                            "\(task.oodName) position \(r.position): \(m) vs \(score)")
                }
            }
            // And the metrics: the sweep's JSON against the rescore's report.
            let report = try CLI.run(["report", "--db", db, name, "--format", "json"])
            let r = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as! [String: Any]
            let reportSets = r["sets"] as! [[String: Any]], sweepSets = points[k]["sets"] as! [[String: Any]]
            #expect(reportSets.count == sweepSets.count)
            for (a, b) in zip(reportSets, sweepSets) {
                let ma = a["metrics"] as! [String: [String: Any]], mb = b["metrics"] as! [String: [String: Any]]
                for method in ["mcm", "neglabel", "adaneg"] {
                    for key in ["fpr95", "auroc", "aupr_in", "aupr_out", "acc"] {
                        let x = ma[method]![key] as! Double, y = mb[method]![key] as! Double
                        #expect(abs(x - y) <= 1e-6, "\(name) \(a["name"]!) \(method) \(key): \(x) vs \(y)")
                    }
                }
            }
        }
    }

    @Test("bad --set: exit 2 naming the --set and the allowed values; nothing written", arguments: [
        (["--set", "gapp=0.3"], "'gapp' is not a scoring parameter"),
        (["--set", "gap=0.3,1.5"], "--set 'gap=0.3,1.5': gap must be in [0, 1] (got 1.5); gap takes numbers 0 to 1"),
        (["--set", "memleng="], "--set 'memleng=': an empty list of values; memleng takes integers 1 to 1024"),
        (["--set", "proxy=task,best"], "proxy takes task or sample"),
        (["--set", "batch_size=0:64:32"], "batch_size must be at least 1 (got 0); batch_size takes integers 1 to 65536"),
        (["--set", "groups=2,60"], "groups 60 is more than the job's 50 negative labels"),
        (["--set", "memleng=1:200:1", "--set", "gap=0:1:0.01"], "more than --max-points 10000"),
        (["--set", "memleng=1:20:1", "--max-points", "10"], "more than --max-points 10"),
        ([String](), "give at least one --set"),
    ])
    func badSets(extra: [String], message: String) throws {
        let s = try Scratch()
        let db = try Self.job(s)
        let before = try [db, db + "-wal"].map { FileManager.default.fileExists(atPath: $0) ? try Self.digest($0) : "" }
        let r = try CLI.run(["sweep", "--db", db, "swept", "--out", s.path("out.txt")] + extra)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        let after = try [db, db + "-wal"].map { FileManager.default.fileExists(atPath: $0) ? try Self.digest($0) : "" }
        #expect(after == before, "the database or its -wal changed")
        #expect(!s.exists("out.txt"))
    }

    @Test("an interrupted sweep resumes: stored points are not scored again, and give the same output")
    func resumes() throws {
        let s = try Scratch()
        let db = try Self.job(s)
        let args = ["sweep", "--db", db, "swept", "--set", "gap=0.3:0.7:0.2", "--set", "lambda=0.1,1", "--format", "csv"]
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix(SweepReport.csvHeader + "\n"))
        #expect(first.stdout.split(separator: "\n").count == 1 + 6 * 3 * 3)
        let again = try CLI.run(args)
        #expect(again.status == 0 && again.stdout == first.stdout, "\(again.stderr)")
        #expect(again.stderr.contains("6 points of 6 already stored in \(db); scoring 0"), "\(again.stderr)")
        // A wider grid scores only its new points.
        let wider = try CLI.run(["sweep", "--db", db, "swept", "--set", "gap=0.3:0.9:0.2", "--set", "lambda=0.1,1"])
        #expect(wider.status == 0 && wider.stderr.contains("6 points of 8 already stored in \(db); scoring 2"), "\(wider.stderr)")
        // The job's own results are untouched: its report is what it was.
        let store = try StoreReader(readingAt: db)
        #expect(try store.jobs().map(\.name) == ["swept"])
    }

    @Test("an interrupted sweep resumes inside a point: its finished tasks are not scored again, its last one is")
    func resumesWithinAPoint() throws {
        let s = try Scratch()
        let db = try Self.job(s)
        let args = ["sweep", "--db", db, "swept", "--set", "lambda=0.1,1", "--format", "json"]
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        // As if interrupted after the first task of point lambda=1: that task's set is in
        // sweep_sets, with an AUROC no scorer gives as a marker, and the point is not stored.
        let (jobID, key, original) = try { () throws -> (Int64, String, SweepPoint) in
            let writer = try StoreWriter(path: db)
            let job = try #require(try writer.job(named: "swept"))
            let stored = try writer.sweepPoints(job: job.id)
            let (key, text) = try #require(stored.first { (try? SweepPoint.decode($0.value).params.lambda) == 1 })
            let point = try SweepPoint.decode(text)
            var set = point.sets[0]
            set.metrics["adaneg"]?.auroc = 0.123456
            try writer.storeSweepSets(job: job.id, [(key, set.task, try SweepPoint.json(set: set))], now: 0)
            try writer.db.execute("DELETE FROM sweep_points WHERE point = '\(key)'")
            #expect(try writer.sweepSets(job: job.id)[key]?.count == 1)
            return (job.id, key, point)
        }()
        let again = try CLI.run(args)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("1 point of 2 already stored in \(db), and 1 task of unfinished ones; scoring 1"), "\(again.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any]
        let points = try #require(json["points"] as? [[String: Any]])
        let resumed = try #require(points.first { ($0["params"] as? [String: Any])?["lambda"] as? Double == 1 })
        let sets = try #require(resumed["sets"] as? [[String: Any]])
        func auroc(_ set: [String: Any]) -> Double? { ((set["metrics"] as? [String: Any])?["adaneg"] as? [String: Any])?["auroc"] as? Double }
        #expect(auroc(sets[0]) == 0.123456, "the stored task was not scored again")
        let scored = try #require(auroc(sets[1])), want = try #require(original.sets[1].metrics["adaneg"]?.auroc)
        #expect(abs(scored - want) < 1e-12, "the missing task was scored: \(scored) vs \(want)")
        // The point is stored whole again and its partial rows are gone.
        let store = try StoreReader(readingAt: db)
        #expect(try store.sweepPoints(job: jobID)[key] != nil)
        #expect(try store.sweepSets(job: jobID).isEmpty)
    }

    @Test("a database in use by another writer still sweeps, says the points are not stored, and stores none")
    func databaseInUse() async throws {
        let s = try Scratch()
        let db = try Self.job(s)
        let serve = Process()
        serve.executableURL = CLI.executable
        serve.arguments = ["serve", "--db", db, "--port", "0"]
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer { serve.terminate(); serve.waitUntilExit() }
        try await Wait.until(30, "serve to hold the database") { FileManager.default.fileExists(atPath: db + ".lock") && (try? String(contentsOfFile: db + ".lock", encoding: .utf8))?.contains("serve") == true }
        let r = try CLI.run(["sweep", "--db", db, "swept", "--set", "memleng=2,3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("is in use") && r.stderr.contains("the points are scored but not stored"), "\(r.stderr)")
        #expect(r.stdout.contains("sweep of job swept: 2 points"), "\(r.stdout)")
        serve.terminate()
        serve.waitUntilExit()
        let store = try StoreReader(readingAt: db)
        let job = try #require(try store.job(named: "swept"))
        #expect(try store.sweepPoints(job: job.id).isEmpty)
    }

    @Test("every format renders; --out replaces a previous sweep output and refuses anything else")
    func formats() throws {
        let s = try Scratch()
        let db = try Self.job(s)
        let base = ["sweep", "--db", db, "swept", "--set", "memleng=2,4,8", "--set", "gap=0.3,0.5", "--set", "proxy=task,sample"]
        let table = try CLI.run(base)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.hasPrefix("sweep of job swept: 12 points"))
        let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.filter { $0.hasSuffix("← the job's own") }.count == 1, "\(table.stdout)")
        #expect(table.stdout.contains("best FPR95: "))
        // Sorted by mean FPR95: the FPR95 column never decreases.
        let fprs = lines.dropFirst(3).prefix(12).compactMap { line in line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first.flatMap { Double($0) } }
        #expect(fprs.count == 12 && fprs == fprs.sorted(), "\(fprs)")
        for format in ["md", "html", "json", "csv"] {
            let r = try CLI.run(base + ["--format", format, "--out", s.path("out.\(format)")])
            #expect(r.status == 0, "\(format): \(r.stderr)")
            let text = try String(contentsOfFile: s.path("out.\(format)"), encoding: .utf8)
            #expect(!text.isEmpty)
            if format == "html" {
                #expect(text.contains("<svg class=\"heat\"") && text.contains("<svg class=\"lineplot\"") && text.contains("★"))
                #expect(!text.contains("http://") && !text.contains("https://") && !text.contains("<script"))
                #expect(text.components(separatedBy: "<svg class=\"heat\"").count - 1 == 6, "3 pairs × 2 metrics")
            }
            // The same command again replaces its own output.
            #expect(try CLI.run(base + ["--format", format, "--out", s.path("out.\(format)")]).status == 0)
        }
        try "my notes\n".write(toFile: s.path("notes.txt"), atomically: true, encoding: .utf8)
        let refused = try CLI.run(base + ["--out", s.path("notes.txt")])
        #expect(refused.status == 2 && refused.stderr.contains("--out"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: s.path("notes.txt"), encoding: .utf8) == "my notes\n")
        let intoDB = try CLI.run(base + ["--out", db])
        #expect(intoDB.status == 2, "\(intoDB.stderr)")
    }

    @Test("a job whose image features were dropped (keep_features: false) is refused with the reason")
    func droppedFeatures() throws {
        let s = try Scratch()
        try ImageRunTests.writeDroppedFeaturesJob(in: s)
        let db = s.path("db.sqlite")
        #expect(try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", db]).status == 0)
        let r = try CLI.run(["sweep", "--db", db, "pictures", "--set", "memleng=2,3"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("job 'pictures' ran with keep_features: false") && r.stderr.contains("no stored features"), "\(r.stderr)")
        let unknown = try CLI.run(["sweep", "--db", db, "nothing", "--set", "memleng=2,3"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no job named 'nothing'"), "\(unknown.stderr)")
        let missing = try CLI.run(["sweep", "--db", s.path("none.sqlite"), "pictures", "--set", "memleng=2"])
        #expect(missing.status == 2 && missing.stderr.contains("no such database") && !s.exists("none.sqlite"), "\(missing.stderr)")
    }

    @Test("score-features, rescore and sweep take every scoring parameter of the definition")
    func flagsFromTheDefinition() throws {
        let features = try CLI.run(["score-features", "--help"])
        let rescore = try CLI.run(["rescore", "--help"])
        let sweep = try CLI.run(["sweep", "--help"])
        for p in ScoringParameter.allCases {
            #expect(features.stdout.contains(p.flag + " <\(p.key)>"), "score-features lacks \(p.flag)")
            #expect(rescore.stdout.contains(p.flag + " <\(p.key)>"), "rescore lacks \(p.flag)")
            #expect(sweep.stdout.contains(p.key), "sweep --help does not name \(p.key)")
        }
    }
}

extension ImageRunTests {
    /// `job.yaml` in `s`: a small image job ("pictures", one OOD set) run with
    /// keep_features: false, so its image features are dropped when it is done.
    static func writeDroppedFeaturesJob(in s: Scratch) throws {
        let model = try TextCommandsTests.model(in: s)
        let files = try FileManager.default.contentsOfDirectory(atPath: images.path).filter { $0.hasPrefix("photo") || $0 == "drawing.png" }.sorted()
        let list = try layOut(files, classes: ["cat", "dog"], in: s)
        try list.write(toFile: s.path("ood.txt"), atomically: true, encoding: .utf8)
        try "rock\tnoun\nriver\tnoun\ncloud\tnoun\ntable\tnoun\nengine\tnoun\nviolin\tnoun\n".write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        try """
        name: pictures
        model: \(model)
        data_root: data
        id: {images: {folders: data/id}}
        ood:
          - {name: odd, images: {list: ood.txt}}
        negatives: {count: 4, lexicon: lexicon.tsv}
        scoring: {batch_size: 4, memleng: 3, groups: 2}
        keep_features: false
        """.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
    }
}
