import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
import NPY
import Tensor

/// A features job on a real coordinator database, scored by in-process "workers" that follow
/// the worker protocol (lease, per batch: bank update, sync with the coordinator, adaptive
/// pass; complete with bank occupancy and timing), so reports see real stored results and
/// units without the Worker module.
struct SequentialJob {
    static let kinds: [SyntheticBenchmark.OODKind] = [.covered, .uncovered]

    let directory: URL
    let data: SyntheticBenchmark
    let kinds: [SyntheticBenchmark.OODKind]
    let spec: JobSpec
    let coordinator: Coordinator
    let time: TestTime

    /// Completion times come from `time`, advanced by the workers: no wall clock.
    final class TestTime: @unchecked Sendable {
        private let lock = NSLock()
        private var t = 1_700_000_000.0
        var now: Double { lock.withLock { t } }
        func advance(_ s: Double) { lock.withLock { t += s } }
    }

    init(kinds: [SyntheticBenchmark.OODKind] = kinds, shape: SyntheticBenchmark.Shape, batchSize: Int = 32, unitBatches: Int = 2,
         syncEvery: Int = 1, proxy: ProxyKind = .task) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("report-seq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        data = SyntheticBenchmark(shape: shape, seed: 7)
        self.kinds = kinds
        let dir = directory.path
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: data.text.cols, to: "\(dir)/text.npy")
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: data.idFeatures.cols, to: "\(dir)/id.npy")
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: "\(dir)/id-labels.npy")
        var ood = ""
        for kind in kinds {
            guard let set = data.oodSets.first(where: { $0.kind == kind }) else { continue }
            try NPYFile.writeMatrix(set.features.storage, rows: set.features.rows, cols: set.features.cols, to: "\(dir)/ood-\(kind.rawValue).npy")
            ood += "  - {name: \(kind.rawValue), group: \(kind == .covered ? "near" : "far"), features: ood-\(kind.rawValue).npy}\n"
        }
        let yaml = """
        name: seq-job
        id:
          num_classes: \(shape.classes)
          features: id.npy
          labels: id-labels.npy
        ood:
        \(ood)negatives:
          text_features: text.npy
          count: \(shape.negatives)
        scoring: {batch_size: \(batchSize), memleng: 6, proxy: \(proxy.rawValue)}
        seed: 5
        unit_batches: \(unitBatches)
        sync_every: \(syncEvery)
        """
        spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir)
        let time = TestTime()
        self.time = time
        coordinator = try Coordinator(databasePath: "\(dir)/db.sqlite", clock: { time.now })
        _ = try await coordinator.submit(spec)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// The job's text features as workers read them.
    var text: Matrix { data.text.rowNormalized() }

    func features(set: Int, item: Int) -> [Float] {
        guard set > 0 else { return data.idFeatures.row(item) }
        return data.oodSets.first { $0.kind == kinds[set - 1] }?.features.row(item) ?? []
    }

    /// Sequential reference over a task's stream: `scoreStream` on the features in stream
    /// order (the same path as `score-features`).
    func reference(task: Int64, proxy: ProxyKind) async throws -> (scores: [SampleScore], labels: [Int]) {
        let stream = try await coordinator.stream(task: task)
        var m = Matrix(rows: stream.sets.count, cols: data.shape.dimension)
        for i in stream.sets.indices { m.setRow(i, features(set: stream.sets[i], item: stream.items[i])) }
        m.normalizeRows()
        var p = spec.scoring
        p.proxy = proxy
        var scorer = try AdaNegScorer(text: text, numID: data.shape.classes, parameters: p, permutation: .seed(spec.seed))
        return (try scorer.scoreStream(m), stream.labels)
    }
}

/// One worker's state: a scorer replica per task and the bank version it has seen.
struct MiniWorker {
    let id: String
    let job: SequentialJob
    var replicas = [Int64: (scorer: AdaNegScorer, version: Int64)]()
    var grant: LeaseGrant?
    var features = Matrix(rows: 0, cols: 0)
    var results = UnitResults()
    var nextRow = 0

    init(id: String, job: SequentialJob) {
        self.id = id
        self.job = job
    }

    /// Leases a unit; false when none is left.
    mutating func lease() async throws -> Bool {
        guard let g = try await job.coordinator.lease(worker: id, host: "test").grant else { return false }
        if replicas[g.task] == nil {
            var scorer = try AdaNegScorer(text: job.text, numID: job.data.shape.classes, parameters: job.spec.scoring,
                                          permutation: .seed(job.spec.seed), recordsDelta: true)
            let (full, version) = try await job.coordinator.syncBank(task: g.task, since: 0, delta: BankDelta())
            scorer.mergeBank(full)
            replicas[g.task] = (scorer, version)
        }
        var m = Matrix(rows: g.count, cols: job.data.shape.dimension)
        for i in 0..<g.count { m.setRow(i, job.features(set: g.sets[i], item: g.items[i])) }
        m.normalizeRows()
        grant = g
        features = m
        results = UnitResults()
        nextRow = 0
        return true
    }

    /// Scores the next batch of the unit (syncing the bank when the plan says so); completes
    /// the unit after its last batch. Returns false when the unit is complete.
    mutating func step() async throws -> Bool {
        guard let g = grant, var replica = replicas[g.task] else { return false }
        let b = job.spec.scoring.batchSize
        let end = min(g.count, nextRow + b)
        let pending = try replica.scorer.beginBatch(features.rows(nextRow..<end), startPosition: g.firstSample + nextRow)
        if ((nextRow / b) + 1) % job.spec.syncEvery == 0 || end == g.count {
            let (reply, version) = try await job.coordinator.syncBank(task: g.task, since: replica.version, delta: replica.scorer.takeBankDelta())
            replica.scorer.mergeBank(reply)
            replica.version = version
        }
        for s in replica.scorer.finishBatch(pending) {
            results.pred.append(s.pred); results.conf.append(s.conf); results.confVanilla.append(s.confVanilla)
            results.mcm.append(s.mcm); results.adaptive.append(s.adaptive); results.errors.append(nil)
        }
        replicas[g.task] = replica
        nextRow = end
        job.time.advance(1)
        guard end == g.count else { return true }
        let request = CompletionRequest(worker: id, attempt: g.attempt, results: results, computeSeconds: Double((g.count + b - 1) / b),
                                        waitSeconds: 0.5, bank: replica.scorer.bank.occupancy(numID: job.data.shape.classes))
        _ = try await job.coordinator.complete(unit: g.unit, request)
        grant = nil
        return false
    }
}
