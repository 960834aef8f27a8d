import AdaNeg
import Foundation
import JobPlan
import JobProtocol
import JobStore
import NPY
import Tensor

/// Each task's stored features scored again as one sequential stream (`--compare-sequential`):
/// the reference a distributed run approximates. Scored with the job's own hyperparameters,
/// text features and permutation, and — when asked — with the other proxy too.
public struct SequentialRun: Sendable {
    public struct Task: Sendable {
        public var task: Int64
        /// Stream positions scored (those with a feature), increasing; one per score.
        public var positions: [Int]
        public var labels: [Int]
        /// With the job's proxy.
        public var scores: [SampleScore]
        /// With the other proxy, when computed.
        public var otherScores: [SampleScore]?
        /// Positions without a stored feature (left out, as workers leave them out).
        public var missing: Int
    }

    public var proxy: ProxyKind
    public var otherProxy: ProxyKind?
    public var batchSize: Int
    public var tasks: [Task]
}

public enum SequentialRescore {
    /// Batches over stream positions (`SweepScorer.batches`, the one definition).
    static func batches(positions: [Int], batchSize: Int) -> [Range<Int>] {
        SweepScorer.batches(positions: positions, batchSize: batchSize)
    }

    /// Scores rows at their own stream positions, batch by batch, with one scorer: the bank is
    /// updated by each batch before its adaptive pass, exactly as a single worker syncing after
    /// every batch does.
    static func score(_ features: Matrix, positions: [Int], scorer: inout AdaNegScorer) throws(AdaNegScorer.Problem) -> [SampleScore] {
        var out = [SampleScore]()
        out.reserveCapacity(positions.count)
        for range in batches(positions: positions, batchSize: scorer.parameters.batchSize) {
            let pending = try scorer.beginBatch(features.rows(range), positions: Array(positions[range]))
            out += scorer.finishBatch(pending)
        }
        return out
    }

    /// Re-scores every task of the report's job from the coordinator's stored features.
    public static func run(store: StoreReader, data: ReportData, otherProxy: Bool = true) throws(ReportError) -> SequentialRun {
        let plan = data.plan
        let text: Matrix
        let permutation: PermutationSource
        do {
            try plan.verifyScorerInputs()
        } catch {
            throw .source("--compare-sequential: \(error)")
        }
        do {
            text = try plan.loadTextFeatures()
            permutation = try plan.loadPermutation()
        } catch {
            throw .source("--compare-sequential: cannot read the job's text features or permutation: \(error)")
        }
        let other: ProxyKind? = otherProxy ? ProxyKind.allCases.first { $0 != plan.scoring.proxy } : nil
        func scorer(_ proxy: ProxyKind) throws(ReportError) -> AdaNegScorer {
            var p = plan.scoring
            p.proxy = proxy
            do {
                return try AdaNegScorer(text: text, numID: plan.numID, parameters: p, permutation: permutation)
            } catch {
                throw .source("--compare-sequential: \(error.description)")
            }
        }
        var tasks = [SequentialRun.Task]()
        for t in data.tasks {
            let stream: StreamFeatures
            do {
                stream = try store.streamFeatures(task: t.task.id)
            } catch {
                throw .source("--compare-sequential: task \(t.task.id) (\(t.task.oodName)): \(error.description)")
            }
            var main = try scorer(plan.scoring.proxy)
            var alternative: AdaNegScorer?
            if let other { alternative = try scorer(other) }
            do {
                let scores = try score(stream.features, positions: stream.positions, scorer: &main)
                var otherScores: [SampleScore]?
                if var alt = alternative { otherScores = try score(stream.features, positions: stream.positions, scorer: &alt) }
                tasks.append(.init(task: t.task.id, positions: stream.positions, labels: stream.labels, scores: scores,
                                   otherScores: otherScores, missing: stream.missing.count))
            } catch {
                throw .source("--compare-sequential: scoring task \(t.task.id): \(error.description)")
            }
        }
        return SequentialRun(proxy: plan.scoring.proxy, otherProxy: other, batchSize: plan.scoring.batchSize, tasks: tasks)
    }
}
