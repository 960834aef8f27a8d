import AdaNeg
import Foundation
import JobPlan
import Yams

/// A scoring method whose score is stored per sample.
public struct ReportMethod: Codable, Sendable, Equatable {
    /// Stable key in JSON and CSV: `mcm`, `neglabel`, `adaneg`.
    public var key: String
    /// Shown in tables: `MCM`, `NegLabel`, `AdaNeg (task)`.
    public var label: String
    /// Which stored column holds its score.
    public var column: String
}

/// The report of one job: what was run, how far it got, and the OOD metrics of every method
/// per OOD set, averaged over sets and per near/far group. Encodes to the JSON report
/// (`report.schema.json`).
public struct JobReport: Codable, Sendable {
    public static let formatVersion = 1

    public var reportVersion = JobReport.formatVersion
    public var job: JobInfo
    public var hyperparameters: ScoringParameters
    public var setup: Setup
    public var progress: Progress
    public var workerCount: Int
    public var workers: [WorkerRecord]
    public var methods: [ReportMethod]
    public var sets: [SetReport]
    /// Mean over the OOD sets, like the paper's "Average" column.
    public var average: Summary
    /// Means over the sets of each group (`near`, `far`), when the job tags them.
    public var groups: [Summary]
    public var failedUnits: [FailedUnit]
    public var sampleErrors: [SampleErrors]
    public var conventions: [String: String]
    /// Distributed vs sequential (`--compare-sequential`); null otherwise.
    public var comparison: SequentialComparison?

    public struct JobInfo: Codable, Sendable {
        public var name: String
        public var id: Int64
        public var createdAt: Double?
        public var source: String
        public var seed: UInt64?
        public var model: String?
        /// The image model's checksum (`WorkPlan.model`), which also keys the stored features:
        /// what a re-run must use. Null for a features job.
        public var modelChecksum: String?
        /// The precision the image features were computed in (`fp32`, `bf16`); null for a
        /// features job.
        public var precision: String?
        public var spec: String?
    }

    public struct Setup: Codable, Sendable {
        public var numID: Int
        public var labelCount: Int
        public var dimension: Int
        public var textFeatures: String
        public var permutation: String
        public var syncEvery: Int
        public var unitBatches: Int
        public var unitSize: Int
        public var keepFeatures: Bool
        /// Per set of the plan (index 0 = ID): name, group and sample count.
        public var inputs: [SetInput]
    }

    public struct SetInput: Codable, Sendable {
        public var name: String
        public var role: String
        public var group: String?
        public var count: Int
    }

    public struct Progress: Codable, Sendable {
        /// Some units are not done (pending, leased or failed) or some samples have no result.
        public var partial: Bool
        public var units: UnitCounts
        public var samples: Int
        public var results: Int
        public var errored: Int
        public var missing: Int
    }

    public struct SetReport: Codable, Sendable {
        public var name: String
        public var group: String?
        public var task: Int64
        /// Samples in the task's stream (the ID set plus this OOD set).
        public var samples: Int
        /// Stored result rows.
        public var results: Int
        /// Samples used for the metrics (stored, without error).
        public var idCount: Int
        public var oodCount: Int
        public var errored: Int
        /// Samples with no result yet (units not done or failed).
        public var missing: Int
        public var partial: Bool
        public var units: UnitCounts?
        /// By method key; a method is absent when its metrics cannot be computed yet.
        public var metrics: [String: OODMetrics]
        /// Why metrics are absent, if they are.
        public var note: String?
    }

    public struct Summary: Codable, Sendable {
        public var name: String
        public var sets: [String]
        /// By method key: the mean over `sets` that have metrics for the method.
        public var metrics: [String: OODMetrics]
        /// True when some set of the summary has no metrics or is partial.
        public var partial: Bool
    }

    public struct SampleErrors: Codable, Sendable {
        public var set: String
        public var message: String
        public var count: Int
        /// Up to 10 stream positions with this error.
        public var positions: [Int]
    }

    enum CodingKeys: String, CodingKey {
        case reportVersion = "report_version", job, hyperparameters, setup, progress, workerCount = "worker_count"
        case workers, methods, sets, average, groups, failedUnits = "failed_units", sampleErrors = "sample_errors", conventions
        case comparison
    }

    /// Explicit, so that absent values are `null` rather than missing keys (the schema pins them).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(reportVersion, forKey: .reportVersion)
        try c.encode(job, forKey: .job)
        try c.encode(hyperparameters, forKey: .hyperparameters)
        try c.encode(setup, forKey: .setup)
        try c.encode(progress, forKey: .progress)
        try c.encode(workerCount, forKey: .workerCount)
        try c.encode(workers, forKey: .workers)
        try c.encode(methods, forKey: .methods)
        try c.encode(sets, forKey: .sets)
        try c.encode(average, forKey: .average)
        try c.encode(groups, forKey: .groups)
        try c.encode(failedUnits, forKey: .failedUnits)
        try c.encode(sampleErrors, forKey: .sampleErrors)
        try c.encode(conventions, forKey: .conventions)
        try c.encode(comparison, forKey: .comparison)
    }
}

extension JobReport.JobInfo {
    enum CodingKeys: String, CodingKey {
        case name, id, createdAt = "created_at", source, seed, model, modelChecksum = "model_checksum", precision, spec
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(id, forKey: .id)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(source, forKey: .source)
        try c.encode(seed, forKey: .seed)
        try c.encode(model, forKey: .model)
        try c.encode(modelChecksum, forKey: .modelChecksum)
        try c.encode(precision, forKey: .precision)
        try c.encode(spec, forKey: .spec)
    }
}

extension JobReport.Setup {
    enum CodingKeys: String, CodingKey {
        case numID = "num_id", labelCount = "label_count", dimension, textFeatures = "text_features", permutation
        case syncEvery = "sync_every", unitBatches = "unit_batches", unitSize = "unit_size", keepFeatures = "keep_features", inputs
    }
}

extension JobReport.SetInput {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encode(group, forKey: .group)
        try c.encode(count, forKey: .count)
    }
}

extension JobReport.SetReport {
    enum CodingKeys: String, CodingKey {
        case name, group, task, samples, results, idCount = "id_count", oodCount = "ood_count", errored, missing, partial, units, metrics, note
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(group, forKey: .group)
        try c.encode(task, forKey: .task)
        try c.encode(samples, forKey: .samples)
        try c.encode(results, forKey: .results)
        try c.encode(idCount, forKey: .idCount)
        try c.encode(oodCount, forKey: .oodCount)
        try c.encode(errored, forKey: .errored)
        try c.encode(missing, forKey: .missing)
        try c.encode(partial, forKey: .partial)
        try c.encode(units, forKey: .units)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(note, forKey: .note)
    }
}

// MARK: Aggregation

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
