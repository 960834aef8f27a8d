import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

@Suite("Report rendering")
struct RenderingTests {
    /// Golden files live in `Fixtures/`; `REPORT_UPDATE_GOLDEN=1 swift test --filter ReportTests`
    /// rewrites them after an intended change.
    @Test("table, Markdown and CSV match their golden files", arguments: [
        ("golden-table.txt", ReportFormat.table, false), ("golden.md", .md, false), ("golden.csv", .csv, false),
        ("golden-partial-table.txt", .table, true),
    ])
    func golden(file: String, format: ReportFormat, partial: Bool) throws {
        let text = try JobReport(Make.goldenData(partial: partial)).render(format)
        let expected = try #require(try FixtureFiles.golden(file, text), "missing golden file \(file)")
        #expect(text == expected, "\(file) differs:\n\(text)")
    }

    @Test("the table has the paper layout: OOD sets as column groups, methods as rows")
    func paperLayout() throws {
        let lines = JobReport(Make.goldenData()).tableText().split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("method") && $0.contains("FPR95↓") })
        for set in ["Textures", "SSB-hard", "Near-OOD avg", "Far-OOD avg", "Average"] { #expect(lines[header - 1].contains(set)) }
        #expect(lines[header].components(separatedBy: "FPR95↓").count - 1 == 5)
        #expect(lines[header + 2].hasPrefix("MCM") && lines[header + 3].hasPrefix("NegLabel") && lines[header + 4].hasPrefix("AdaNeg (task)"))
    }

    @Test("CSV values are the report's metrics as fractions")
    func csvValues() throws {
        let report = JobReport(Make.goldenData())
        let rows = report.csv().split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows[0].count == 15)
        let adaTextures = try #require(rows.first { $0[0] == "Textures" && $0[3] == "AdaNeg (task)" })
        #expect(abs(Double(adaTextures[6])! - report.sets[0].metrics["adaneg"]!.auroc) < 1e-8)
        #expect(rows.filter { $0[1] == "mean" }.count == 9)
    }

    @Test("JSON validates against the committed schema and carries the setup")
    func jsonSchema() throws {
        let schema = SchemaValidator(root: try JSON.parse(try FixtureFiles.read("report.schema.json")))
        for partial in [false, true] {
            let text = try JobReport(Make.goldenData(partial: partial)).json()
            let json = try JSON.parse(text)
            #expect(schema.validate(json) == [])
            #expect(json["job"]?["spec"]?.string == Make.spec)
            #expect(json["job"]?["seed"]?.double == 11)
            #expect(json["hyperparameters"]?["memleng"]?.double == 10)
            #expect(json["setup"]?["inputs"]?.array?.count == 3)
            #expect(json["sets"]?.array?[1]["errored"]?.double == 2)
            #expect(json["progress"]?["partial"] == nil ? false : true)
        }
        // The validator does reject a wrong shape.
        var text = try JobReport(Make.goldenData()).json()
        text = text.replacingOccurrences(of: "\"worker_count\"", with: "\"workers_count\"")
        let problems = schema.validate(try JSON.parse(text))
        #expect(problems.contains { $0.contains("missing required key 'worker_count'") })
        #expect(problems.contains { $0.contains("unexpected key 'workers_count'") })
    }

    @Test("the sklearn fixture's report validates against the schema too")
    func jsonSchemaLargerJob() throws {
        let (data, _) = try MetricsTests().sklearnData()
        let schema = SchemaValidator(root: try JSON.parse(try FixtureFiles.read("report.schema.json")))
        #expect(schema.validate(try JSON.parse(try JobReport(data).json())) == [])
    }

    // MARK: HTML

    static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test("HTML is one self-contained file: table, ROC and histograms per set, errors, no script, no network")
    func htmlStructure() throws {
        let data = Make.goldenData()
        let report = JobReport(data)
        let html = try report.render(.html, data: data)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(Self.count("<svg class=\"roc\"", in: html) == 2)
        #expect(Self.count("<svg class=\"hist\"", in: html) == 6)
        #expect(Self.count("class=\"curve\" data-method=", in: html) == 6)
        #expect(html.contains("<table class=\"paper\">"))
        #expect(html.contains("worker crashed: out of memory"))
        #expect(html.contains("cannot decode image: truncated JPEG"))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("src=") && !html.contains("href=") && !html.contains("@import") && !html.contains("url("))
        #expect(html.contains("@media print"))
        // ROC curves start at (0, 0) and end at (1, 1) in plot coordinates.
        let path = try #require(html.range(of: "data-method=\"adaneg\" d=\"").map { html[$0.upperBound...] }.map { String($0.prefix { $0 != "\"" }) })
        #expect(path.hasPrefix("M36.0,248.0"))
        #expect(path.hasSuffix("L276.0,8.0"))
    }

    @Test("ROC points: ties are one step, the curve is downsampled, AUROC from the points is close")
    func rocPoints() throws {
        let data = Make.goldenData()
        let split = ScoreSplit(results: data.tasks[0].results, method: .adaneg)
        let fine = split.roc(resolution: 0)
        var area = 0.0
        for i in 1..<fine.count { area += (fine[i].fpr - fine[i - 1].fpr) * (fine[i].tpr + fine[i - 1].tpr) / 2 }
        #expect(abs(area - JobReport(data).sets[0].metrics["adaneg"]!.auroc) < 1e-12)
        #expect(split.roc(resolution: 0.2).count < fine.count)
        #expect(split.roc(resolution: 0.2).last! == (1, 1))
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `scripts/test.sh` installs Debian's chromium; without it this test fails rather than skips.
    @Test("headless Chromium loads the HTML and its DOM holds the SVG charts, bank and throughput panels included")
    func chromiumDOM() throws {
        try #require(Self.chromium != nil, "Debian chromium is not installed (scripts/test.sh installs it)")
        let data = PanelsTests.data()
        let html = try JobReport(data).render(.html, data: data)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("report.html")
        try html.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.chromium!)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(dir.path)/profile",
                             "--enable-logging=stderr", "--v=0", "--dump-dom", file.absoluteString]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // A bounded wait: a hung browser fails the test instead of stalling the suite.
        let watchdog = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        defer { watchdog.cancel() }
        let dom = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(Self.count("<svg class=\"roc\"", in: dom) == 2)
        #expect(Self.count("<svg class=\"hist\"", in: dom) == 6)
        #expect(Self.count("<path class=\"curve\" data-method=", in: dom) == 6)
        #expect(dom.contains("<table class=\"paper\">"))
        #expect(Self.count("<svg class=\"bank\"", in: dom) == 2)
        #expect(Self.count("<path class=\"line\" data-kind=", in: dom) == 4)
        #expect(Self.count("<svg class=\"throughput\"", in: dom) == 1)
        #expect(Self.count("<path class=\"line worker\"", in: dom) == 2)
        #expect(Self.count("<svg class=\"timeline\"", in: dom) == 1)
        // Console messages from the page would be logged as CONSOLE lines.
        #expect(!log.contains("CONSOLE"), "console output: \(log)")
    }
}
