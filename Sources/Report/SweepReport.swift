import AdaNeg
import Foundation
import JobSpec
import Platform

/// The result of `adaneg sweep`: every point of the grid with its metrics. JSON is
/// `{"job": …, "points": [{"params": {…}, "sets": […], "average": {…}}]}` (plus the grid and the
/// job's own parameters); the other formats are views of the same points.
public struct SweepReport: Sendable {
    public var job: String
    /// The job's own parameters (every point starts from them).
    public var jobParams: ScoringParameters
    /// The swept parameters, in `--set` order, with their values.
    public var axes: [SweepGrid.Axis]
    /// In grid order (the last `--set` varies fastest).
    public var points: [SweepPoint]

    public init(job: String, jobParams: ScoringParameters, axes: [SweepGrid.Axis], points: [SweepPoint]) {
        self.job = job
        self.jobParams = jobParams
        self.axes = axes
        self.points = points
    }

    /// The method the table sorts by and the plots show: AdaNeg.
    static let ranked = ScoringMethod.adaneg.rawValue

    /// The index of the point that is the job's own configuration, if the grid holds it.
    var jobPoint: Int? { points.firstIndex { $0.params == jobParams } }

    /// Mean FPR95 of AdaNeg at a point (nil when it has no metrics).
    func meanFPR(_ p: SweepPoint) -> Double? { p.average.metrics[Self.ranked]?.fpr95 }

    /// Point indices sorted by mean FPR95 (lower first; points without metrics last), ties by
    /// AUROC (higher first), then grid order.
    var ranking: [Int] {
        points.indices.sorted { a, b in
            let fa = meanFPR(points[a]) ?? .infinity, fb = meanFPR(points[b]) ?? .infinity
            if fa != fb { return fa < fb }
            let ua = points[a].average.metrics[Self.ranked]?.auroc ?? -1, ub = points[b].average.metrics[Self.ranked]?.auroc ?? -1
            if ua != ub { return ua > ub }
            return a < b
        }
    }

    /// The metrics the best point is marked for: key, label, whether higher is better.
    static let metricKeys: [(key: String, label: String, higher: Bool, value: @Sendable (OODMetrics) -> Double)] = [
        ("fpr95", "FPR95", false, { $0.fpr95 }),
        ("auroc", "AUROC", true, { $0.auroc }),
        ("aupr_in", "AUPR-In", true, { $0.auprIn }),
        ("aupr_out", "AUPR-Out", true, { $0.auprOut }),
        ("acc", "ACC", true, { $0.accuracy }),
    ]

    /// The best point for each metric of AdaNeg's average (ties: the earlier point).
    var best: [(key: String, label: String, point: Int, value: Double)] {
        Self.metricKeys.compactMap { m in
            var found: (Int, Double)?
            for (i, p) in points.enumerated() {
                guard let v = p.average.metrics[Self.ranked].map(m.value), v.isFinite else { continue }
                if found == nil || (m.higher ? v > found!.1 : v < found!.1) { found = (i, v) }
            }
            return found.map { (m.key, m.label, $0.0, $0.1) }
        }
    }

    /// The swept values of a point, `memleng=5 gap=0.3`.
    func label(_ p: SweepPoint) -> String {
        axes.map { "\($0.parameter.key)=\($0.parameter.value(in: p.params))" }.joined(separator: " ")
    }

    /// The parameters not swept, at the job's values.
    var fixedText: String {
        let swept = Set(axes.map(\.parameter))
        return jobParams.values.filter { !swept.contains($0.0) }.map { "\($0.0.key)=\($0.1)" }.joined(separator: ", ")
    }
}

/// Output formats of `adaneg sweep` (those of `report`).
public typealias SweepFormat = ReportFormat

extension SweepReport {
    public func render(_ format: SweepFormat) throws -> String {
        switch format {
        case .table: TerminalText.escaped(tableText(), keepingLineBreaks: true)
        case .json: try json()
        case .csv: TerminalText.escaped(csv(), keepingLineBreaks: true)
        case .md: TerminalText.escaped(markdown(), keepingLineBreaks: true)
        case .html: SweepHTML(report: self).render()
        }
    }

    // MARK: JSON

    struct Encoded: Encodable {
        var job: String
        var jobParams: ScoringParameters
        var swept: [[String: [String]]]
        var points: [SweepPoint]
        enum CodingKeys: String, CodingKey { case job, jobParams = "job_params", swept, points }
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let swept = axes.map { [$0.parameter.key: $0.values.map(\.description)] }
        let data = try encoder.encode(Encoded(job: job, jobParams: jobParams, swept: swept, points: points))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: Table and Markdown

    /// Header and rows of the ranked table (percentages, as `report`'s table).
    var rankedRows: (header: [String], rows: [[String]]) {
        let sets = points.first?.sets.map(\.name) ?? []
        let header = ["#"] + axes.map(\.parameter.key) + ["FPR95↓", "AUROC↑", "AUPR-In", "AUPR-Out", "ACC"]
            + sets.map { "\($0) FPR95/AUROC" } + [""]
        let jobIndex = jobPoint
        let rows = ranking.enumerated().map { rank, i -> [String] in
            let p = points[i]
            let avg = p.average.metrics[Self.ranked]
            let cells = [String(rank + 1)] + axes.map { $0.parameter.value(in: p.params).description }
                + [avg?.fpr95, avg?.auroc, avg?.auprIn, avg?.auprOut, avg?.accuracy].map(JobReport.percent)
                + p.sets.map { s in
                    let m = s.metrics[Self.ranked]
                    return "\(JobReport.percent(m?.fpr95))/\(JobReport.percent(m?.auroc))"
                }
            return cells + [i == jobIndex ? "← the job's own" : ""]
        }
        return (header, rows)
    }

    var headline: String {
        let count = Plural.count(points.count, "point")
        return "sweep of job \(job): \(count), AdaNeg's mean over \(Plural.count(points.first?.sets.count ?? 0, "OOD set")) (%), sorted by mean FPR95"
    }

    var footnotes: [String] {
        var out = ["fixed at the job's values: \(fixedText.isEmpty ? "(none)" : fixedText)"]
        if jobPoint == nil {
            out.append("the job's own configuration (\(axes.map { "\($0.parameter.key)=\($0.parameter.value(in: jobParams))" }.joined(separator: " "))) is not in the grid")
        }
        for b in best {
            out.append("best \(b.label): \(label(points[b.point])) (\(JobReport.percent(b.value)))")
        }
        return out
    }

    func tableText() -> String {
        let (header, rows) = rankedRows
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == 0 || i > axes.count ? JobReport.padLeft(c, widths[i]) : JobReport.pad(c, widths[i]) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = headline + "\n\n" + line(header) + "\n"
        for r in rows { out += line(r) + "\n" }
        out += "\n" + footnotes.joined(separator: "\n") + "\n"
        return out
    }

    func markdown() -> String {
        let (header, rows) = rankedRows
        var out = "# Sweep: \(job)\n\n\(headline).\n\n"
        out += "| " + header.map { $0.isEmpty ? " " : $0 }.joined(separator: " | ") + " |\n"
        out += "|" + header.indices.map { $0 == 0 || $0 > axes.count ? "---:|" : "---|" }.joined() + "\n"
        for r in rows { out += "| " + r.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
        out += "\n" + footnotes.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return out
    }

    // MARK: CSV

    public static let csvHeader = "point,params,set,method,fpr95,fpr95_id_positive,auroc,aupr_in,aupr_out,acc,id_count,ood_count"

    /// One row per point, set (and the average) and method; values are fractions, as in
    /// `report --format csv`.
    func csv() -> String {
        var out = Self.csvHeader + "\n"
        func quote(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        for (i, p) in points.enumerated() {
            let params = quote(p.params.pointKey)
            let columns = p.sets.map { ($0.name, $0.metrics) } + [("Average", p.average.metrics)]
            for (set, metrics) in columns {
                for method in ScoringMethod.allCases {
                    guard let m = metrics[method.rawValue] else { continue }
                    let values = [m.fpr95, m.fpr95IDPositive, m.auroc, m.auprIn, m.auprOut, m.accuracy].map(JobReport.fraction)
                    out += ([String(i + 1), params, quote(set), method.rawValue] + values + [String(m.idCount), String(m.oodCount)])
                        .joined(separator: ",") + "\n"
                }
            }
        }
        return out
    }
}

/// What `sweep --out` may replace: an empty file or a previous sweep output, in any format.
public enum SweepOutput {
    static let beginnings = ["sweep of job ", "{\n  \"job\"", SweepReport.csvHeader + "\n", "# Sweep: ", SweepHTML.beginning].map { Array($0.utf8) }

    public static let replaceable = OutputTarget.Replaceable(kind: "a sweep output (table, JSON, CSV, Markdown or HTML)") { head in
        head.isEmpty || (!head.contains(0) && beginnings.contains { head.starts(with: $0) })
    }
}
