import AdaNeg
import Foundation
import Platform

/// The distributed-vs-sequential table, shared by the table, Markdown, CSV and HTML renderings.
extension JobReport {
    static let comparisonHeader = ["set", "samples", "FPR95 dist.", "FPR95 seq.", "ΔFPR95", "AUROC dist.", "AUROC seq.", "ΔAUROC", "max |Δscore|"]

    /// A difference in percentage points, signed; a zero difference is plain `0.000`.
    static func points(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "–" }
        let s = String(format: "%+.3f", 100 * x)
        return s == "+0.000" || s == "-0.000" ? "0.000" : s
    }

    var comparisonRows: [[String]] {
        guard let c = comparison else { return [] }
        return (c.sets + (c.average.map { [$0] } ?? [])).map { s in
            [s.name, "\(s.compared)", Self.percent(s.distributed?.fpr95), Self.percent(s.sequential?.fpr95), Self.points(s.delta?.fpr95),
             Self.percent(s.distributed?.auroc), Self.percent(s.sequential?.auroc), Self.points(s.delta?.auroc),
             s.maxAbsScoreDelta.map { String(format: "%.2e", $0) } ?? "–"]
        }
    }

    /// One paragraph: what was compared, and the notes of sets that could not be.
    var comparisonCaption: [String] {
        guard let c = comparison else { return [] }
        var lines = ["Distributed vs sequential: \(c.label), batch size \(c.batchSize); values in %, Δ in points (\(Self.sequentialNote))."]
        if let other = methods.first(where: { $0.key == c.otherMethod }) {
            lines.append("\(other.label): the other proxy, re-scored sequentially from the stored features (no distributed run).")
        }
        for s in c.sets {
            if let note = s.note { lines.append("\(s.name): not compared: \(note)") }
            if s.missingFeatures > 0 {
                let one = s.missingFeatures == 1
                lines.append("\(s.name): \(Plural.count(s.missingFeatures, "sample")) \(one ? "has" : "have") no stored feature and \(one ? "was" : "were") not re-scored")
            }
        }
        return lines
    }

    var comparisonText: String? {
        guard comparison != nil else { return nil }
        return comparisonCaption.joined(separator: "\n") + "\n" + Self.grid(header: Self.comparisonHeader, rows: comparisonRows)
    }

    /// CSV rows `kind=sequential` (the re-scored method's metrics) and `kind=delta`
    /// (distributed − sequential), per set and for the average.
    var comparisonCSVLines: [String] {
        guard let c = comparison else { return [] }
        let method = Self.csvField(c.label)
        var lines = [String]()
        for s in c.sets + (c.average.map { [$0] } ?? []) {
            let set = Self.csvField(s.name), group = s.name == "Average" ? "" : Self.csvField(sets.first { $0.name == s.name }?.group ?? "")
            let counts = [s.sequential?.idCount ?? 0, s.sequential?.oodCount ?? 0, 0, s.missingFeatures].map(String.init)
            let q = s.sequential
            lines.append(([set, "sequential", group, method]
                + [q?.fpr95, q?.fpr95IDPositive, q?.auroc, q?.auprIn, q?.auprOut, q?.accuracy].map(Self.fraction) + counts + ["false"])
                .joined(separator: ","))
            let d = s.delta
            lines.append(([set, "delta", group, method]
                + [d?.fpr95, d?.fpr95IDPositive, d?.auroc, d?.auprIn, d?.auprOut, d?.accuracy].map(Self.fraction) + counts + ["false"])
                .joined(separator: ","))
        }
        return lines
    }
}
