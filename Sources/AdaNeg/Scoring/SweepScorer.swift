import Dispatch
import Synchronization
import Tensor

/// Scores one task's stream for many parameter points (`adaneg sweep`), each exactly as one
/// sequential scorer would (`score-features`, `rescore` with one worker syncing every batch).
///
/// The static half of a batch (`z = s·V·Tᵀ` and its summaries: two thirds of a batch's cost)
/// depends only on the batch's rows, the label space (groups and permutation) and the logit
/// scale, so it is computed once per batch for every point that shares those and batch size;
/// each point then runs its own bank update and adaptive pass on it. Points run in parallel
/// over `threads` threads; OpenBLAS runs single-threaded inside them and on all cores for the
/// shared product, so the results do not depend on the thread count.
public enum SweepScorer {
    /// Row ranges of the batches over stream positions: batch k holds the rows whose positions
    /// fall in [k·size, (k+1)·size), as the units' batches do; a batch whose samples all lack
    /// features is empty and skipped. `positions` increase.
    public static func batches(positions: [Int], batchSize: Int) -> [Range<Int>] {
        var out = [Range<Int>]()
        var start = 0
        while start < positions.count {
            let batch = positions[start] / batchSize
            var end = start + 1
            while end < positions.count && positions[end] / batchSize == batch { end += 1 }
            out.append(start..<end)
            start = end
        }
        return out
    }

    /// The points that can share a static half: same batch size, groups and logit scale.
    struct StaticKey: Hashable {
        var batchSize: Int
        var groups: Int
        var logitScale: Double
        init(_ p: ScoringParameters) { (batchSize, groups, logitScale) = (p.batchSize, p.groups, p.logitScale) }
    }

    /// Scores `features` (rows at stream `positions`) for every point; returns one score per
    /// row per point, in `points`' order. `progress(done, total)` counts point-batches and is
    /// called on the calling thread.
    ///
    /// Points that differ only in λ and `in_score` share one scorer: those two only combine
    /// `S_ada` and `S_nl` at the end (`AdaNegScorer.finishBatch(_:outputs:)`).
    public static func score(
        features: Matrix, positions: [Int], text: Matrix, numID: Int, permutation: PermutationSource,
        points: [ScoringParameters], threads: Int, progress: (Int, Int) -> Void = { _, _ in }
    ) throws(AdaNegScorer.Problem) -> [[SampleScore]] {
        precondition(positions.count == features.rows, "one position per row")
        // One scorer per point up to λ and in_score, in first-seen order, with its points; one
        // label space per number of groups, shared by its scorers.
        var scorerKeys = [String: Int]()
        var scorers = [AdaNegScorer]()
        var fanOut = [[(point: Int, output: AdaNegScorer.Output)]]()
        var spaces = [Int: LabelSpace]()
        for (i, p) in points.enumerated() {
            var key = p
            (key.lambda, key.inScore) = (0, .combine)
            let output = AdaNegScorer.Output(lambda: p.lambda, inScore: p.inScore)
            if let j = scorerKeys[key.pointKey] {
                fanOut[j].append((i, output))
                continue
            }
            scorerKeys[key.pointKey] = scorers.count
            let problems = p.problems()
            guard problems.isEmpty else { throw .invalidParameters(problems) }
            let space: LabelSpace
            if let known = spaces[p.groups] {
                space = known
            } else {
                do {
                    space = try LabelSpace(text: text, numID: numID, groups: p.groups, permutation: permutation)
                } catch {
                    throw .labels(error)
                }
                spaces[p.groups] = space
            }
            scorers.append(try AdaNegScorer(space: space, parameters: p))
            fanOut.append([(i, output)])
        }
        let targetsOf = fanOut
        var order = [StaticKey]()
        var members = [StaticKey: [Int]]()
        for (j, scorer) in scorers.enumerated() {
            let key = StaticKey(scorer.parameters)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(j)
        }
        let total = order.reduce(0) { sum, key in
            sum + batches(positions: positions, batchSize: key.batchSize).count * members[key]!.reduce(0) { $0 + fanOut[$1].count }
        }
        let results = ResultSlots(points.count)
        let shared = ScorerSlots(scorers)
        let cores = ProcessInfoCores.count
        var done = 0
        for key in order {
            // The costliest scorers first, each taken by the next free lane: the batch ends
            // when its slowest lane does.
            let group = members[key]!.sorted { cost(scorers[$0].parameters) > cost(scorers[$1].parameters) }
            let pointsInGroup = group.reduce(0) { $0 + fanOut[$1].count }
            let lanes = max(1, min(threads, group.count))
            for range in batches(positions: positions, batchSize: key.batchSize) {
                let rows = features.rows(range)
                let rowPositions = Array(positions[range])
                BLAS.setThreads(cores)
                let staticHalf = try shared.scorer(group[0]).staticBatch(rows)
                var shareable = staticHalf
                if group.count > 1 {
                    let members = group.map { shared.scorer($0) }
                    shareable = AdaNegScorer.withEntropies(shareable, for: members)
                    if members.filter({ $0.parameters.variant != .adagap }).count > 1 {
                        shareable = AdaNegScorer.withStaticTerms(shareable, space: members[0].space)
                    }
                }
                let computed = shareable
                if lanes > 1 { BLAS.setThreads(1) }
                let next = WorkCounter()
                DispatchQueue.concurrentPerform(iterations: lanes) { _ in
                    while case let k = next.take(), k < group.count {
                        let j = group[k]
                        let targets = targetsOf[j]
                        shared.withScorer(j) { scorer in
                            let pending = scorer.beginBatch(rows, positions: rowPositions, computed: computed)
                            let scored = scorer.finishBatch(pending, outputs: targets.map(\.output))
                            for (target, scores) in zip(targets, scored) { results.append(scores, to: target.point) }
                        }
                    }
                }
                done += pointsInGroup
                progress(done, total)
            }
        }
        BLAS.setThreads(cores)
        return results.take()
    }

    /// A scorer's relative cost per batch, to start the slow ones first: the sample proxy's
    /// pool product and L² work per (sample, cached row) grow with L.
    static func cost(_ p: ScoringParameters) -> Int {
        p.proxy == .sample ? 4 + p.memoryLength * p.memoryLength / 8 : 2
    }
}

/// The next scorer index for the lanes of a batch.
private final class WorkCounter: Sendable {
    private let next = Atomic<Int>(0)
    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}

/// The scorers of a sweep, each touched by one thread at a time (a point belongs to one lane).
/// Raw storage, so that lanes touching different elements never overlap an access to the whole.
private final class ScorerSlots: @unchecked Sendable {
    private let base: UnsafeMutablePointer<AdaNegScorer>
    private let count: Int
    init(_ scorers: [AdaNegScorer]) {
        count = scorers.count
        base = .allocate(capacity: max(1, count))
        base.initialize(from: scorers, count: count)
    }
    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    func scorer(_ i: Int) -> AdaNegScorer { base[i] }

    func withScorer(_ i: Int, _ body: (inout AdaNegScorer) -> Void) { body(&base[i]) }
}

/// Per-point score lists, each appended to by the one lane that owns the point.
private final class ResultSlots: @unchecked Sendable {
    private let base: UnsafeMutablePointer<[SampleScore]>
    private let count: Int
    init(_ count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
        base.initialize(repeating: [], count: count)
    }
    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    func append(_ scores: [SampleScore], to i: Int) { base[i] += scores }

    func take() -> [[SampleScore]] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
