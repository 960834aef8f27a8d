import AdaNeg
import Foundation
import JobPlan
import JobProtocol
import Platform

/// Output formats of `adaneg report`.
public enum ReportFormat: String, CaseIterable, Sendable {
    case table, json, csv, md, html
}

extension JobReport {
    /// Renders the report in a format.
    public func render(_ format: ReportFormat, data: ReportData? = nil, options: HTMLOptions = .init()) throws -> String {
        // The text formats quote names and messages from specs and workers, and usually go to
        // a terminal: control characters are escaped (JSON escapes its own; HTML is markup).
        switch format {
        case .table: TerminalText.escaped(tableText(), keepingLineBreaks: true)
        case .json: try json()
        case .csv: TerminalText.escaped(csv(), keepingLineBreaks: true)
        case .md: TerminalText.escaped(markdown(), keepingLineBreaks: true)
        case .html: HTMLReport(report: self, data: data, options: options).render()
        }
    }

    // MARK: Shared pieces

    /// Column groups of the paper layout: each OOD set, then the group means, then the average.
    var columns: [(name: String, metrics: [String: OODMetrics], partial: Bool)] {
        sets.map { ($0.name, $0.metrics, $0.partial) }
            + groups.map { ("\(Self.groupTitle($0.name)) avg", $0.metrics, $0.partial) }
            + [("Average", average.metrics, average.partial)]
    }

    static func groupTitle(_ g: String) -> String { g.prefix(1).uppercased() + g.dropFirst() + "-OOD" }

    static func percent(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "–" }
        return String(format: "%.2f", 100 * x)
    }

    static func fraction(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return String(format: "%.8f", x)
    }

    /// One line on how complete the job is.
    var progressLine: String {
        let u = progress.units
        // Nothing left to run: a failed job says so, never that it is still under way.
        switch u.state {
        case .failed:
            return "FAILED: every unit failed (\(Plural.count(u.total, "unit"))); no sample has a result (see the failed units)."
        case .finishedWithFailures:
            return "FINISHED WITH FAILURES: \(u.done)/\(Plural.count(u.total, "unit")) done, \(u.failed) failed; "
                + "\(progress.results)/\(Plural.count(progress.samples, "sample")) have results. Metrics cover the scored samples only."
        case .cancelled:
            return "CANCELLED: \(u.done)/\(Plural.count(u.total, "unit")) done, \(u.cancelled) dropped; "
                + "\(progress.results)/\(Plural.count(progress.samples, "sample")) have results. Metrics cover the scored samples only."
        case .running, .complete: break
        }
        if progress.partial {
            return "PARTIAL: \(u.done)/\(Plural.count(u.total, "unit")) done (\(u.leased) leased, \(u.pending) pending, \(u.failed) failed); "
                + "\(progress.results)/\(Plural.count(progress.samples, "sample")) have results. Metrics cover the scored samples only."
        }
        return "complete: \(u.done)/\(Plural.count(u.total, "unit")) done, \(Plural.count(progress.results, "sample")) scored"
    }

    var errorLine: String? {
        guard progress.errored > 0 || !failedUnits.isEmpty else { return nil }
        return "\(Plural.count(progress.errored, "sample")) errored (left out of the metrics); \(Plural.count(failedUnits.count, "unit")) failed"
    }

    static let detailHeader = ["set", "method", "FPR95↓", "FPR95(ID+)↓", "AUROC↑", "AUPR-In↑", "AUPR-Out↑", "ACC↑"]
    static let countHeader = ["set", "group", "ID", "OOD", "errored", "missing", "state"]

    var detailRows: [[String]] {
        var rows = [[String]]()
        for c in columns {
            for m in methods {
                let x = c.metrics[m.key]
                rows.append([c.name, m.label] + [x?.fpr95, x?.fpr95IDPositive, x?.auroc, x?.auprIn, x?.auprOut, x?.accuracy].map(Self.percent))
            }
        }
        return rows
    }

    var countRows: [[String]] {
        sets.map { s in
            [s.name, s.group ?? "–", "\(s.idCount)", "\(s.oodCount)", "\(s.errored)", "\(s.missing)",
             s.partial ? "partial" : (s.note == nil ? "done" : "no metrics")]
        }
    }

    static let conventionNote = """
        FPR95: share of ID samples flagged OOD at 95% OOD recall (OpenOOD). \
        FPR95(ID+): share of OOD samples accepted at 95% ID recall (MCM/NegLabel papers). Values in %.
        """

    // MARK: Terminal table

    public func tableText() -> String {
        let cols = columns
        // Header: set names spanning their two columns, then the metric names.
        let head2 = ["method"] + cols.flatMap { _ in ["FPR95↓", "AUROC↑"] }
        let body = methods.map { m in
            [m.label] + cols.flatMap { c -> [String] in
                [Self.percent(c.metrics[m.key]?.fpr95), Self.percent(c.metrics[m.key]?.auroc)]
            }
        }
        var widths = head2.indices.map { i in ([head2] + body).map { $0[i].count }.max() ?? 0 }
        // Widen a column pair when the set name is longer than both columns.
        for (k, c) in cols.enumerated() {
            let name = c.name.count + (c.partial ? 1 : 0)
            let span = widths[1 + 2 * k] + widths[2 + 2 * k] + 2
            if name > span { widths[2 + 2 * k] += name - span }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, t in
                i == 0 ? Self.pad(t, widths[i]) : Self.padLeft(t, widths[i])
            }.joined(separator: "  ")
        }
        var header1 = Self.pad("", widths[0])
        for (k, c) in cols.enumerated() {
            let span = widths[1 + 2 * k] + widths[2 + 2 * k] + 2
            header1 += "  " + Self.centre(c.name + (c.partial ? "*" : ""), span)
        }
        let ruleWidth = widths.reduce(0, +) + 2 * (widths.count - 1)
        let rule = String(repeating: "─", count: ruleWidth)
        var out = ["job \(job.name) (\(job.source))", progressLine]
        if let e = errorLine { out.append(e) }
        out.append("")
        out += [Self.trimEnd(header1), line(head2), rule] + body.map(line)
        if cols.contains(where: \.partial) { out.append("* partial: some samples of the set have no result yet, or a set of the mean has no metrics") }
        out.append("")
        out.append(Self.grid(header: Self.detailHeader, rows: detailRows))
        out.append(Self.grid(header: Self.countHeader, rows: countRows))
        for s in sets { if let note = s.note { out.append("\(s.name): no metrics: \(note)") } }
        if let comparison = comparisonText { out.append(comparison) }
        out.append(Self.conventionNote)
        return out.joined(separator: "\n") + "\n"
    }

    static func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
    static func padLeft(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
    static func centre(_ s: String, _ w: Int) -> String {
        let left = max(0, w - s.count) / 2
        return String(repeating: " ", count: left) + s + String(repeating: " ", count: max(0, w - s.count - left))
    }
    static func trimEnd(_ s: String) -> String {
        var s = s
        while s.last == " " { s.removeLast() }
        return s
    }

    /// A plain grid: first two columns left-aligned text, the rest right-aligned numbers.
    static func grid(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            trimEnd(cells.enumerated().map { c, t in c < 2 ? pad(t, widths[c]) : padLeft(t, widths[c]) }.joined(separator: "  "))
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    // MARK: Markdown

    public func markdown() -> String {
        func row(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        let cols = columns
        var out = ["# Report: \(job.name)", ""]
        out.append(progress.partial ? "**\(progressLine)**" : progressLine)
        if let e = errorLine { out += ["", e] }
        out += ["", "## OOD detection (FPR95↓ / AUROC↑, %)", ""]
        out.append(row(["Method"] + cols.flatMap { ["\($0.name)\($0.partial ? "*" : "") FPR95↓", "\($0.name)\($0.partial ? "*" : "") AUROC↑"] }))
        out.append(row(["---"] + cols.flatMap { _ in ["---:", "---:"] }))
        for m in methods {
            out.append(row([m.label] + cols.flatMap { [Self.percent($0.metrics[m.key]?.fpr95), Self.percent($0.metrics[m.key]?.auroc)] }))
        }
        if cols.contains(where: \.partial) { out += ["", "\\* partial: some samples have no result yet, or a set of the mean has no metrics."] }
        out += ["", "## All metrics (%)", ""]
        out.append(row(Self.detailHeader))
        out.append(row(["---", "---"] + Array(repeating: "---:", count: Self.detailHeader.count - 2)))
        out += detailRows.map(row)
        out += ["", "## Samples", ""]
        out.append(row(Self.countHeader))
        out.append(row(["---", "---"] + Array(repeating: "---:", count: Self.countHeader.count - 2)))
        out += countRows.map(row)
        out += ["", "## Setup", ""]
        let h = hyperparameters
        out.append("- seed: \(job.seed.map(String.init) ?? "–"), model: \(job.model ?? "– (features job)"), workers: \(workerCount)")
        out.append("- memleng \(h.memoryLength), thres \(h.threshold), gap \(h.gap), beta \(h.beta), lambda \(h.lambda), groups \(h.groups), "
            + "batch size \(h.batchSize), proxy \(h.proxy.rawValue), in-score \(h.inScore.rawValue), replacement \(h.replacement.rawValue), "
            + "variant \(h.variant.rawValue), logit scale \(h.logitScale)")
        out.append("- permutation \(setup.permutation), sync every \(setup.syncEvery), unit size \(setup.unitSize)")
        if let c = job.modelChecksum { out.append("- model checksum \(c), precision \(job.precision ?? "fp32")") }
        if comparison != nil {
            out += ["", "## Distributed vs sequential", ""]
            out += comparisonCaption.map { "- " + $0 }
            out.append("")
            out.append(row(Self.comparisonHeader))
            out.append(row(["---", "---:"] + Array(repeating: "---:", count: Self.comparisonHeader.count - 2)))
            out += comparisonRows.map(row)
        }
        if !failedUnits.isEmpty || !sampleErrors.isEmpty {
            out += ["", "## Errors", ""]
            for f in failedUnits { out.append("- unit \(f.unit) (task \(f.task)) failed after \(Plural.count(f.attempts, "attempt")): \(TerminalText.escaped(f.error))") }
            for e in sampleErrors { out.append("- \(e.set): \(e.count) × \(TerminalText.escaped(e.message))") }
        }
        out += ["", Self.conventionNote]
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: CSV

    /// Long format: one row per (set or mean, method); metric values as fractions.
    public func csv() -> String {
        var lines = ["set,kind,group,method,fpr95,fpr95_id_positive,auroc,aupr_in,aupr_out,acc,id_count,ood_count,errored,missing,partial"]
        func line(_ set: String, _ kind: String, _ group: String?, _ m: ReportMethod, _ x: OODMetrics?, counts: [Int], partial: Bool) -> String {
            ([set, kind, group ?? "", m.label].map(Self.csvField)
                + [x?.fpr95, x?.fpr95IDPositive, x?.auroc, x?.auprIn, x?.auprOut, x?.accuracy].map(Self.fraction)
                + counts.map(String.init) + [partial ? "true" : "false"]).joined(separator: ",")
        }
        for s in sets {
            for m in methods {
                lines.append(line(s.name, "set", s.group, m, s.metrics[m.key], counts: [s.idCount, s.oodCount, s.errored, s.missing], partial: s.partial))
            }
        }
        for g in summaries {
            let members = sets.filter { g.sets.contains($0.name) }
            let counts = [members.reduce(0) { $0 + $1.idCount }, members.reduce(0) { $0 + $1.oodCount },
                          members.reduce(0) { $0 + $1.errored }, members.reduce(0) { $0 + $1.missing }]
            let isAverage = g.name == "Average" && g.sets.count == sets.count
            for m in methods {
                lines.append(line(isAverage ? "Average" : "\(Self.groupTitle(g.name)) avg", "mean", isAverage ? nil : g.name, m,
                                  g.metrics[m.key], counts: counts, partial: g.partial))
            }
        }
        lines += comparisonCSVLines
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    // MARK: JSON

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}

/// Writes a rendered report to a file (through `OutputTarget`, the one policy for outputs), or
/// standard output for nil or `-`.
public enum ReportOutput {
    /// How each format begins (table, JSON, CSV, Markdown, HTML): what `--out` may replace is
    /// an empty file or a previous report, in any format; never a job spec, notes, a database.
    static let beginnings = ["job ", "{", "set,kind,group,method,", "# Report: ", "<!DOCTYPE html>"].map { Array($0.utf8) }

    public static let replaceable = OutputTarget.Replaceable(kind: "a report (table, JSON, CSV, Markdown or HTML)") { head in
        head.isEmpty || (!head.contains(0) && beginnings.contains { head.starts(with: $0) })
    }

    /// The checked `--out`, nil for standard output; `inputs` (the database) are never replaced.
    public static func target(_ path: String?, inputs: [OutputTarget.Input] = []) throws(ReportError) -> OutputTarget? {
        guard let path, path != "-" else { return nil }
        do { return try OutputTarget.file(path, flag: "--out", replacing: replaceable, inputs: inputs) } catch { throw .output(error) }
    }

    public static func write(_ text: String, to target: OutputTarget?) throws(ReportError) {
        guard let target else {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        do { try target.write(Data(text.utf8)) } catch { throw .output(error) }
    }

    public static func write(_ text: String, to path: String?) throws(ReportError) {
        try write(text, to: try target(path))
    }
}
