import AdaNeg
import Foundation

/// Plain-text tables of OOD metrics for the terminal.
enum MetricsTable {
    /// One row per method: FPR95 in both conventions, AUROC, AUPR-In/Out, ID accuracy (%).
    static func methods(_ rows: [(name: String, metrics: OODMetrics)]) -> String {
        let header = ["method", "FPR95↓", "FPR95(ID+)↓", "AUROC↑", "AUPR-In↑", "AUPR-Out↑", "ACC↑"]
        let body = rows.map { row in
            [row.name] + [row.metrics.fpr95, row.metrics.fpr95IDPositive, row.metrics.auroc,
                          row.metrics.auprIn, row.metrics.auprOut, row.metrics.accuracy].map(percent)
        }
        return render(header: header, rows: body) + """

        FPR95: share of ID samples flagged OOD at 95% OOD recall (OpenOOD); \
        FPR95(ID+): share of OOD samples accepted at 95% ID recall (MCM/NegLabel papers). Values in %.

        """
    }

    /// Paper Table 1 layout: OOD sets as column groups (FPR95↓ / AUROC↑), methods as rows.
    static func paper(sets: [String], methods: [String], cell: (String, String) -> OODMetrics?) -> String {
        var header = ["method"]
        for s in sets { header += ["\(s) FPR95↓", "AUROC↑"] }
        let rows = methods.map { m in
            [m] + sets.flatMap { s -> [String] in
                guard let x = cell(m, s) else { return ["–", "–"] }
                return [percent(x.fpr95), percent(x.auroc)]
            }
        }
        return render(header: header, rows: rows)
    }

    static func percent(_ x: Double) -> String {
        x.isNaN ? "–" : String(format: "%.2f", 100 * x)
    }

    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, text in
                c == 0 ? text.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - text.count) + text
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
