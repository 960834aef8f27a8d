import AdaNeg
import Foundation
import JobPlan
import JobProtocol

/// The run's own panels in the HTML report, from the units' completion records: how full the
/// memory bank got over each stream, and each worker's throughput over time.
extension HTMLReport {
    static let workerColours = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
    /// Workers drawn individually; the rest are summed into one "others" line.
    static let maxWorkerLines = 8

    static let notServed = "<p class=\"note\">Not available: the coordinator's HTTP API does not serve the units; report from the database (<code>--db</code>).</p>"
    static let notRecorded = "<p class=\"note not-recorded\">not recorded (units completed by a coordinator before schema version 2 carry no completion details)</p>"

    // MARK: Memory bank

    func bankSection() -> String {
        guard let data, data.tasks.contains(where: { $0.units != nil }) else { return section("bank", "Memory bank occupancy", Self.notServed) }
        let numID = data.plan.numID, negatives = max(data.plan.labelCount - data.plan.numID, 0)
        var body = "<p class=\"note\">Label rows holding at least one cached test feature, ID rows (of \(numID)) and negative rows "
            + "(of \(negatives)), as the completing worker's bank replica held them at the end of each unit, against the stream position.</p>\n"
        body += "<div class=\"charts\">\n"
        for t in data.tasks {
            let points = (t.units ?? []).filter { $0.state == .done }
                .compactMap { u in u.completion?.bank.map { (position: u.firstSample + u.sampleCount, bank: $0) } }
                .sorted { $0.position < $1.position }
            body += "<div class=\"set\"><h3>\(esc(t.task.oodName))</h3>\n"
            body += points.isEmpty ? Self.notRecorded : bankSVG(set: t.task.oodName, samples: t.task.sampleCount, points: points,
                                                                 idRows: numID, negativeRows: negatives)
            body += "</div>\n"
        }
        return section("bank", "Memory bank occupancy", body + "</div>")
    }

    func bankSVG(set: String, samples: Int, points: [(position: Int, bank: BankOccupancy)], idRows: Int, negativeRows: Int) -> String {
        let w = 340.0, hgt = 190.0, left = 40.0, top = 24.0, pw = w - left - 12, ph = hgt - top - 34
        let xMax = Double(max(samples, points.last?.position ?? 1, 1))
        func x(_ p: Int) -> String { Self.f(left + Double(p) / xMax * pw) }
        func y(_ share: Double) -> String { Self.f(top + (1 - min(max(share, 0), 1)) * ph) }
        let stride = max(1, points.count / 300)
        func path(_ value: (BankOccupancy) -> Int, of total: Int) -> String {
            guard total > 0 else { return "" }
            var d = "M\(x(0)),\(y(0))"
            for (i, p) in points.enumerated() where i % stride == 0 || i == points.count - 1 {
                d += "L\(x(p.position)),\(y(Double(value(p.bank)) / Double(total)))"
            }
            return d
        }
        let last = points.last?.bank
        var s = "<svg class=\"bank\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\" aria-label=\"memory bank occupancy, \(esc(set))\">\n"
        s += "<title>Memory bank occupancy over the stream, \(esc(set))</title>\n"
        s += "<rect x=\"\(Self.f(left))\" y=\"\(Self.f(top))\" width=\"\(Self.f(pw))\" height=\"\(Self.f(ph))\" class=\"frame\"/>\n"
        for v in [0.0, 0.5, 1.0] {
            s += "<line x1=\"\(Self.f(left))\" y1=\"\(y(v))\" x2=\"\(Self.f(left + pw))\" y2=\"\(y(v))\" class=\"grid\"/>"
            s += "<text x=\"\(Self.f(left - 4))\" y=\"\(y(v))\" dy=\"3\" text-anchor=\"end\">\(Int(v * 100))%</text>\n"
        }
        let idShare = last.map { Double($0.idRows) / Double(max(idRows, 1)) } ?? 0
        let negShare = last.map { Double($0.negativeRows) / Double(max(negativeRows, 1)) } ?? 0
        s += "<path class=\"line\" data-kind=\"id\" d=\"\(path({ $0.idRows }, of: idRows))\" stroke=\"\(Self.idColour)\"/>\n"
        s += "<path class=\"line\" data-kind=\"negative\" d=\"\(path({ $0.negativeRows }, of: negativeRows))\" stroke=\"\(Self.oodColour)\"/>\n"
        s += "<text x=\"\(Self.f(left))\" y=\"14\"><tspan fill=\"\(Self.idColour)\">■ ID rows \(last?.idRows ?? 0)/\(idRows) (\(Self.f(100 * idShare))%)</tspan>"
        s += " <tspan fill=\"\(Self.oodColour)\">■ negative rows \(last?.negativeRows ?? 0)/\(negativeRows) (\(Self.f(100 * negShare))%)</tspan></text>\n"
        s += Self.xAxisLabels(plot: (left, top, pw, ph), low: "0", high: "\(Int(xMax))", title: "stream position", gap: 13)
        return s + "</svg>\n"
    }

    // MARK: Throughput per worker

    /// One completed unit placed in time: it ran for its compute plus wait seconds up to its
    /// completion (a unit without duration counts at its completion instant).
    struct WorkSpan {
        var worker: String
        var start: Double
        var end: Double
        var samples: Int
        var compute: Double
        var wait: Double
    }

    func workSpans() -> [WorkSpan]? {
        guard let data, data.tasks.contains(where: { $0.units != nil }) else { return nil }
        var spans = [WorkSpan]()
        for t in data.tasks {
            for u in t.units ?? [] where u.state == .done {
                guard let c = u.completion, let end = u.completedAt else { continue }
                let busy = max(0, c.computeSeconds + c.waitSeconds)
                spans.append(WorkSpan(worker: c.worker, start: end - busy, end: end, samples: u.sampleCount, compute: c.computeSeconds, wait: c.waitSeconds))
            }
        }
        return spans
    }

    /// Samples per second of each worker in `bins` equal time bins: each unit's samples are
    /// spread evenly over its span, so a unit longer than a bin does not show as a spike.
    static func binnedRates(_ spans: [WorkSpan], workers: [String], bins: Int) -> (t0: Double, t1: Double, rates: [[Double]]) {
        let t0 = spans.map(\.start).min() ?? 0
        let t1 = max(spans.map(\.end).max() ?? 0, t0 + 1e-3)
        let width = (t1 - t0) / Double(bins)
        var rates = [[Double]](repeating: [Double](repeating: 0, count: bins), count: workers.count)
        let index = Dictionary(workers.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for s in spans {
            let w = index[s.worker] ?? workers.count - 1
            // Seconds since t0: bin edges near epoch times would lose precision.
            let start = s.start - t0, end = s.end - t0
            if end - start <= 0 {
                rates[w][min(bins - 1, Int(end / width))] += Double(s.samples) / width
                continue
            }
            let perSecond = Double(s.samples) / (end - start)
            let first = max(0, Int(start / width)), last = min(bins - 1, Int(end / width))
            guard first <= last else { continue }
            for b in first...last {
                let lo = max(start, Double(b) * width), hi = min(end, Double(b + 1) * width)
                if hi > lo { rates[w][b] += perSecond * (hi - lo) / width }
            }
        }
        return (t0, t1, rates)
    }

    func throughputSection() -> String {
        guard let spans = workSpans() else { return section("throughput", "Throughput per worker", Self.notServed) }
        guard !spans.isEmpty else { return section("throughput", "Throughput per worker", Self.notRecorded) }
        var totals = [String: (units: Int, samples: Int, compute: Double, wait: Double)]()
        for s in spans {
            var t = totals[s.worker] ?? (0, 0, 0, 0)
            t.units += 1; t.samples += s.samples; t.compute += s.compute; t.wait += s.wait
            totals[s.worker] = t
        }
        let ranked = totals.keys.sorted { (totals[$0]?.samples ?? 0, $1) > (totals[$1]?.samples ?? 0, $0) }
        var lines = Array(ranked.prefix(Self.maxWorkerLines))
        if ranked.count > Self.maxWorkerLines { lines.append("others") }
        let named = Set(lines)
        let binned = Self.binnedRates(spans.map { s in var s = s; if !named.contains(s.worker) { s.worker = "others" }; return s },
                                      workers: lines, bins: 40)
        var body = "<p class=\"note\">Samples per second of each worker over the run (40 time bins; each unit's samples spread over its "
            + "compute and wait time up to its completion); the dashed line is the whole job.</p>\n"
        body += throughputSVG(lines: lines, binned: binned)
        let rows = ranked.map { w -> [String] in
            let t = totals[w] ?? (0, 0, 0, 0)
            let busy = t.compute + t.wait
            return [w, "\(t.units)", "\(t.samples)", String(format: "%.1f", t.compute), String(format: "%.1f", t.wait),
                    t.compute > 0 ? String(format: "%.1f", Double(t.samples) / t.compute) : "–",
                    busy > 0 ? String(format: "%.0f%%", 100 * t.wait / busy) : "–"]
        }
        body += table(["worker", "units", "samples", "compute s", "wait s", "samples/s computing", "waiting"], rows, numericFrom: 1)
        return section("throughput", "Throughput per worker", body)
    }

    func throughputSVG(lines: [String], binned: (t0: Double, t1: Double, rates: [[Double]])) -> String {
        let w = 640.0, hgt = 240.0, left = 56.0, top = 12.0, right = 150.0, pw = w - left - right, ph = hgt - top - 40
        let bins = binned.rates.first?.count ?? 1
        let total = (0..<bins).map { b in binned.rates.reduce(0) { $0 + $1[b] } }
        let peak = max(total.max() ?? 0, 1e-9)
        func x(_ b: Int) -> String { Self.f(left + Double(b) / Double(bins) * pw) }
        func y(_ r: Double) -> String { Self.f(top + (1 - r / peak) * ph) }
        func steps(_ r: [Double]) -> String {
            var d = "M\(x(0)),\(y(r.first ?? 0))"
            for (b, v) in r.enumerated() { d += "L\(x(b)),\(y(v))L\(x(b + 1)),\(y(v))" }
            return d
        }
        var s = "<svg class=\"throughput\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\" aria-label=\"throughput per worker over time\">\n"
        s += "<title>Throughput per worker over time</title>\n"
        s += "<rect x=\"\(Self.f(left))\" y=\"\(Self.f(top))\" width=\"\(Self.f(pw))\" height=\"\(Self.f(ph))\" class=\"frame\"/>\n"
        for v in [0.5, 1.0] {
            s += "<line x1=\"\(Self.f(left))\" y1=\"\(y(v * peak))\" x2=\"\(Self.f(left + pw))\" y2=\"\(y(v * peak))\" class=\"grid\"/>"
            s += "<text x=\"\(Self.f(left - 4))\" y=\"\(y(v * peak))\" dy=\"3\" text-anchor=\"end\">\(Self.rate(v * peak))</text>\n"
        }
        s += "<text x=\"\(Self.f(left - 4))\" y=\"\(y(0))\" dy=\"3\" text-anchor=\"end\">0</text>\n"
        s += "<path class=\"line total\" d=\"\(steps(total))\" stroke=\"#666\"/>\n"
        var legendY = top + 10
        for (i, name) in lines.enumerated() {
            let colour = Self.workerColours[i % Self.workerColours.count]
            s += "<path class=\"line worker\" data-worker=\"\(esc(name))\" d=\"\(steps(binned.rates[i]))\" stroke=\"\(colour)\"/>\n"
            s += "<line x1=\"\(Self.f(w - right + 10))\" y1=\"\(Self.f(legendY - 3))\" x2=\"\(Self.f(w - right + 24))\" y2=\"\(Self.f(legendY - 3))\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(Self.f(w - right + 28))\" y=\"\(Self.f(legendY))\">\(esc(String(name.prefix(18))))</text>\n"
            legendY += 14
        }
        s += "<line x1=\"\(Self.f(w - right + 10))\" y1=\"\(Self.f(legendY - 3))\" x2=\"\(Self.f(w - right + 24))\" y2=\"\(Self.f(legendY - 3))\" class=\"total-key\"/>"
        s += "<text x=\"\(Self.f(w - right + 28))\" y=\"\(Self.f(legendY))\">whole job</text>\n"
        let seconds = binned.t1 - binned.t0
        s += Self.xAxisLabels(plot: (left, top, pw, ph), low: "0 s", high: String(format: seconds < 10 ? "%.1f s" : "%.0f s", seconds),
                              title: "time since the first unit started (samples/s)", titleGap: 28)
        return s + "</svg>\n"
    }

    static func rate(_ r: Double) -> String { r >= 100 ? String(format: "%.0f", r) : String(format: "%.3g", r) }

    // MARK: Distributed vs sequential

    func comparisonSection() -> String {
        guard report.comparison != nil else { return "" }
        let caption = report.comparisonCaption.map { "<p class=\"note\">\(esc($0))</p>" }.joined(separator: "\n")
        return section("comparison", "Distributed vs sequential", caption + "\n" + table(JobReport.comparisonHeader, report.comparisonRows, numericFrom: 1))
    }
}
