import AdaNeg
import JobPlan
import JobProtocol
import Yams

/// How a report is computed from its data: each set's metrics per method, the averages, the
/// sample errors by message, the job's setup from its plan.
extension JobReport {
    /// The methods every pass computes, in table order; AdaNeg is labelled with its proxy.
    public static func methods(proxy: String) -> [ReportMethod] {
        ScoringMethod.allCases.map { method in
            switch method {
            case .mcm: ReportMethod(key: method.rawValue, label: "MCM", column: "mcm")
            case .neglabel: ReportMethod(key: method.rawValue, label: "NegLabel", column: "conf_vanilla")
            case .adaneg: ReportMethod(key: method.rawValue, label: "AdaNeg (\(proxy))", column: "conf")
            }
        }
    }

    /// The scored samples of a task, in stream order, with their labels and positions.
    static func scored(_ results: [ResultRecord]) -> [(position: Int, label: Int, score: SampleScore)] {
        results.compactMap { r in r.outcome.score.map { (r.position, r.label, $0) } }
    }

    public init(_ data: ReportData) {
        let plan = data.plan
        let methods = Self.methods(proxy: plan.scoring.proxy.rawValue)
        var sets = [SetReport]()
        var sampleErrors = [SampleErrors]()
        for t in data.tasks {
            let ok = Self.scored(t.results)
            let labels = ok.map(\.label)
            let idCount = labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
            var metrics = [String: OODMetrics]()
            var notes = [String]()
            for (method, m) in zip(ScoringMethod.allCases, methods) {
                // Each method with its own score and prediction (MCM and NegLabel: the argmax
                // of the ID logits).
                let conf = ok.map { method.score(of: $0.score) }
                let pred = ok.map { method.prediction(of: $0.score) }
                do {
                    metrics[m.key] = try OODMetrics.compute(conf: conf, labels: labels, pred: pred)
                } catch {
                    if !notes.contains(error.description) { notes.append(error.description) }
                }
            }
            let errored = t.results.count - ok.count
            let missing = max(0, t.task.sampleCount - t.results.count)
            let unitCounts = t.units.map { units -> UnitCounts in
                var c = UnitCounts()
                for u in units {
                    switch u.state {
                    case .pending: c.pending += 1
                    case .leased: c.leased += 1
                    case .done: c.done += 1
                    case .failed: c.failed += 1
                    case .cancelled: c.cancelled += 1
                    }
                }
                return c
            }
            let partial = missing > 0 || (unitCounts.map { $0.done < $0.total } ?? false)
            sets.append(SetReport(name: t.task.oodName, group: t.task.oodGroup, task: t.task.id, samples: t.task.sampleCount,
                                  results: t.results.count, idCount: idCount, oodCount: labels.count - idCount, errored: errored,
                                  missing: missing, partial: partial, units: unitCounts, metrics: metrics,
                                  note: notes.isEmpty ? nil : notes.joined(separator: "; ")))
            // Sample errors grouped by message, in order of first appearance.
            var byMessage = [String: Int]()
            for r in t.results {
                guard case let .failed(message) = r.outcome else { continue }
                if let i = byMessage[message] {
                    sampleErrors[i].count += 1
                    if sampleErrors[i].positions.count < 10 { sampleErrors[i].positions.append(r.position) }
                } else {
                    byMessage[message] = sampleErrors.count
                    sampleErrors.append(SampleErrors(set: t.task.oodName, message: message, count: 1, positions: [r.position]))
                }
            }
        }

        let results = data.tasks.reduce(0) { $0 + $1.results.count }
        let samples = data.tasks.reduce(0) { $0 + $1.task.sampleCount }
        let errored = sets.reduce(0) { $0 + $1.errored }
        let missing = sets.reduce(0) { $0 + $1.missing }
        let partial = !(data.units.pending == 0 && data.units.leased == 0 && data.units.failed == 0) || missing > 0

        let permutation: String = switch plan.permutation {
        case .seed(let s): "seed \(s)"
        case .file(let f): "file \(f)"
        case .given(let indices): "\(indices.count) given indices"
        case .none: "none"
        }
        let spec = data.specYAML
        // Metadata from the plan; plans stored before it recorded them fall back to the stored
        // spec's top-level keys.
        let legacy = plan.seed == nil ? spec.flatMap(Self.legacyFields) : nil
        self.init(
            job: JobInfo(name: data.jobName, id: data.jobID, createdAt: data.createdAt, source: data.source,
                         seed: plan.seed ?? legacy?.seed,
                         model: plan.model?.path ?? plan.modelName ?? legacy?.model,
                         modelChecksum: plan.model?.checksum, precision: plan.model?.effectivePrecision.rawValue, spec: spec),
            hyperparameters: plan.scoring,
            setup: Setup(numID: plan.numID, labelCount: plan.labelCount, dimension: plan.dimension, textFeatures: plan.textFeatures,
                         permutation: permutation, syncEvery: plan.syncEvery, unitBatches: plan.unitBatches, unitSize: plan.unitSize,
                         keepFeatures: plan.keepFeatures,
                         inputs: plan.sets.enumerated().map { i, s in SetInput(name: s.name, role: i == 0 ? "id" : "ood", group: s.group, count: s.count) }),
            progress: Progress(partial: partial, units: data.units, samples: samples, results: results, errored: errored, missing: missing),
            workerCount: data.workers.filter { $0.unitsDone > 0 }.count,
            workers: data.workers,
            methods: methods,
            sets: sets,
            average: Self.summary("Average", sets, methods: methods),
            groups: Self.groups(sets, methods: methods),
            failedUnits: data.failedUnits,
            sampleErrors: sampleErrors,
            conventions: Self.conventions
        )
    }

    /// The mean over `members` per method.
    static func summary(_ name: String, _ members: [SetReport], methods: [ReportMethod]) -> Summary {
        var metrics = [String: OODMetrics]()
        for m in methods {
            if let mean = OODMetrics.mean(members.compactMap { $0.metrics[m.key] }) { metrics[m.key] = mean }
        }
        let partial = members.contains { s in s.partial || methods.contains { m in s.metrics[m.key] == nil } }
        return Summary(name: name, sets: members.map(\.name), metrics: metrics, partial: partial)
    }

    /// One summary per group tag: near before far, as in the papers; other tags after, in job order.
    static func groups(_ sets: [SetReport], methods: [ReportMethod]) -> [Summary] {
        var names = [String]()
        for s in sets { if let g = s.group, !names.contains(g) { names.append(g) } }
        let order = names.enumerated().sorted { (groupRank($0.element), $0.offset) < (groupRank($1.element), $1.offset) }.map(\.element)
        return order.map { g in summary(g, sets.filter { $0.group == g }, methods: methods) }
    }

    static func groupRank(_ g: String) -> Int { g == "near" ? 0 : g == "far" ? 1 : 2 }

    public static let conventions: [String: String] = [
        "fpr95": "OpenOOD: share of ID samples flagged OOD at the first threshold reaching 95% OOD recall (OOD positive, score -conf)",
        "fpr95_id_positive": "MCM/NegLabel papers: share of OOD samples accepted at the first threshold reaching 95% ID recall (ID positive, score conf)",
        "auroc": "area under ROC, OOD positive, score -conf",
        "aupr_in": "trapezoidal area under precision-recall, ID positive, score conf",
        "aupr_out": "trapezoidal area under precision-recall, OOD positive, score -conf",
        "acc": "ID accuracy of the prediction over ID samples",
        "values": "fractions in [0, 1] in JSON and CSV; percentages in the table, Markdown and HTML",
        "errored": "samples with a stored error or no prediction; left out of the metrics",
        "average": "unweighted mean over the OOD sets that have metrics",
    ]

    /// `seed` and `model` of a stored spec, for plans from before the plan recorded them.
    static func legacyFields(_ yaml: String) -> (seed: UInt64?, model: String?)? {
        guard let top = (try? Yams.load(yaml: yaml)) as? [String: Any] else { return nil }
        let seed = (top["seed"] as? Int).flatMap { UInt64(exactly: $0) } ?? (top["seed"] as? String).flatMap { UInt64($0) }
        return (seed, top["model"] as? String)
    }

    /// The summaries shown as extra columns: the group means, then the overall average.
    public var summaries: [Summary] { groups + [average] }
}
