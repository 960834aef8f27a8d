import Tensor

/// The AdaNeg scorer for one task's stream: stateful, because the memory bank grows as
/// batches are scored.
///
/// Per batch (docs/algorithm.md, "One batch"): static logits `z = s·V·Tᵀ` with one GEMM; the grouped score
/// `S_nl`; the bank update from confident samples (ID first, then OOD, in batch order); the
/// adaptive logits `z'` from the refreshed proxies; then `S_ada`, the prediction, MCM and
/// NegLabel, all from the same pass.
public struct AdaNegScorer: Sendable {
    public let parameters: ScoringParameters
    public let space: LabelSpace
    public private(set) var bank: MemoryBank
    private var proxies: ProxyCache
    private var window: AdaGapWindow?
    /// Stream position of the next sample when callers do not pass positions.
    public private(set) var nextPosition = 0

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case invalidParameters([String])
        case labels(LabelSpace.Problem)
        case dimensionMismatch(features: Int, text: Int)

        public var description: String {
            switch self {
            case let .invalidParameters(list): "invalid scoring parameters: " + list.joined(separator: "; ")
            case let .labels(problem): problem.description
            case let .dimensionMismatch(features, text):
                "image features have \(features) dimensions, text features \(text)"
            }
        }
    }

    /// - Parameters:
    ///   - text: the C + M label text features (L2-normalised), ID classes first.
    ///   - recordsDelta: keep local bank inserts for `takeBankDelta()` (distributed workers).
    public init(
        text: Matrix, numID: Int, parameters: ScoringParameters,
        permutation: PermutationSource, recordsDelta: Bool = false
    ) throws(Problem) {
        let problems = parameters.problems()
        guard problems.isEmpty else { throw .invalidParameters(problems) }
        let space: LabelSpace
        do {
            space = try LabelSpace(text: text, numID: numID, groups: parameters.groups, permutation: permutation)
        } catch {
            throw .labels(error)
        }
        try self.init(space: space, parameters: parameters, recordsDelta: recordsDelta)
    }

    /// A scorer over a label space built already (its groups must be `parameters.groups`): the
    /// points of a sweep share one space (the reordered text, 22 MB at ImageNet's shape) per
    /// number of groups.
    public init(space: LabelSpace, parameters: ScoringParameters, recordsDelta: Bool = false) throws(Problem) {
        let problems = parameters.problems()
        guard problems.isEmpty else { throw .invalidParameters(problems) }
        precondition(space.groups == parameters.groups, "a label space of \(space.groups) groups for \(parameters.groups)")
        self.space = space
        self.parameters = parameters
        let rows = space.labelCount
        bank = MemoryBank(rowCount: rows, memoryLength: parameters.memoryLength, dimension: space.dimension, recordsDelta: recordsDelta)
        proxies = ProxyCache(proxy: parameters.proxy, rowCount: rows, memoryLength: parameters.memoryLength, dimension: space.dimension)
        window = parameters.variant == .adagap ? AdaGapWindow() : nil
    }

    // MARK: Scoring

    /// A batch between its two phases: static logits computed and the bank updated, adaptive
    /// scores not yet computed. Distributed workers sync their bank in between, so the
    /// entries of a batch reach other workers before its (slower) adaptive pass.
    public struct PendingBatch: Sendable {
        let features: Matrix
        let z: Matrix
        let summaries: [LogitSummary]
        public let start: Int
        public let activity: BatchBankActivity
        var staticTerms: [Float]?
    }

    /// Phase 1: static logits, `S_nl`, and the bank update from this batch's confident samples.
    public mutating func beginBatch(_ features: Matrix, startPosition: Int? = nil) throws(Problem) -> PendingBatch {
        let start = startPosition ?? nextPosition
        return try beginBatch(features, positions: Array(start ..< start + features.rows))
    }

    /// Phase 1 with explicit stream positions, one per row, increasing: a batch from which
    /// samples without features (unreadable images) were left out keeps its samples' own
    /// positions, which key their bank entries.
    public mutating func beginBatch(_ features: Matrix, positions: [Int]) throws(Problem) -> PendingBatch {
        let computed = try staticBatch(features)
        return beginBatch(features, positions: positions, computed: computed)
    }

    /// The static half of a batch (`z` and its summaries), which depends only on the features,
    /// the label space (text, groups, permutation) and the logit scale: a sweep computes it once
    /// for every point that shares those, and hands it to `beginBatch(_:positions:computed:)`.
    public struct StaticBatch: Sendable {
        let z: Matrix
        let summaries: [LogitSummary]
        /// Per sample, the bank keys under `replacement: entropy` (the entropies of the ID and
        /// of the negative softmax of `z`), when computed once for the scorers that share this
        /// batch (`withEntropies`); NaN where no scorer needs one.
        var idEntropies: [Float]?
        var negativeEntropies: [Float]?
        /// B × C: `softmax(z)` over all labels at the ID columns, the prediction's static terms
        /// (the same for every scorer but AdaGap's, which takes the ID-only softmax).
        var staticTerms: [Float]?
    }

    /// Phase 0: the static logits and their summaries, without touching the bank.
    public func staticBatch(_ features: Matrix) throws(Problem) -> StaticBatch {
        guard features.cols == space.dimension else { throw .dimensionMismatch(features: features.cols, text: space.dimension) }
        let z = BLAS.matmulTransposed(features, space.internalText, alpha: Float(parameters.logitScale))
        return StaticBatch(z: z, summaries: Self.summarize(z, space: space))
    }

    /// The batch with its samples' entropy keys computed once for several scorers: the ID
    /// entropy of every sample some scorer with `replacement: entropy` would call ID-confident
    /// (grouped score above its ID gate), the negative one below an OOD gate. An AdaGap scorer
    /// moves its gates, so it asks for every sample's. The same function computes them as a
    /// lone scorer would, so the bank is the same bit for bit.
    public static func withEntropies(_ computed: StaticBatch, for scorers: [AdaNegScorer]) -> StaticBatch {
        let keyed = scorers.filter { $0.parameters.replacement == .entropy && $0.bank.capacity > 0 }
        guard let space = keyed.first?.space else { return computed }
        var idGate = Float.infinity, oodGate = -Float.infinity
        for scorer in keyed {
            let adagap = scorer.parameters.variant == .adagap
            idGate = min(idGate, adagap ? -.infinity : scorer.parameters.idGate)
            oodGate = max(oodGate, adagap ? .infinity : scorer.parameters.oodGate)
        }
        let b = computed.z.rows, width = space.labelCount, c = space.numID
        let gates = (id: idGate, ood: oodGate)
        var id = [Float](repeating: .nan, count: b), negatives = [Float](repeating: .nan, count: b)
        let summaries = computed.summaries
        computed.z.storage.withUnsafeBufferPointer { zBuf in
            let zp = SharedConstPointer(zBuf.baseAddress!)
            id.withUnsafeMutableBufferPointer { idBuf in
                let ip = SharedPointer(idBuf.baseAddress!)
                negatives.withUnsafeMutableBufferPointer { negBuf in
                    let np = SharedPointer(negBuf.baseAddress!)
                    parallelChunks(b, minimumChunk: 8) { range in
                        for i in range {
                            let st = summaries[i], row = zp.base + i * width
                            if Float(st.groupedScore) > gates.id {
                                ip.base[i] = softmaxEntropy(UnsafeBufferPointer(start: row, count: c), lse: st.lseID)
                            }
                            if Float(st.groupedScore) < gates.ood {
                                np.base[i] = softmaxEntropy(UnsafeBufferPointer(start: row + c, count: space.numNegatives), lse: st.lseNegatives)
                            }
                        }
                    }
                }
            }
        }
        var out = computed
        (out.idEntropies, out.negativeEntropies) = (id, negatives)
        return out
    }

    /// The batch with the prediction's static terms computed once for several scorers (those
    /// of every variant but AdaGap), by the expression a lone scorer evaluates.
    public static func withStaticTerms(_ computed: StaticBatch, space: LabelSpace) -> StaticBatch {
        let b = computed.z.rows, width = space.labelCount, c = space.numID
        var terms = [Float](repeating: 0, count: b * c)
        let summaries = computed.summaries
        computed.z.storage.withUnsafeBufferPointer { zBuf in
            let zp = SharedConstPointer(zBuf.baseAddress!)
            terms.withUnsafeMutableBufferPointer { tBuf in
                let tp = SharedPointer(tBuf.baseAddress!)
                parallelChunks(b, minimumChunk: 8) { range in
                    for i in range {
                        let row = zp.base + i * width, shift = summaries[i].lseAll
                        for k in 0..<c { tp.base[i * c + k] = Float(exp(Double(row[k]) - shift)) }
                    }
                }
            }
        }
        var out = computed
        out.staticTerms = terms
        return out
    }

    /// Phase 1 from a static half computed by a scorer with the same label space and logit
    /// scale (`staticBatch`): the bank update from this batch's confident samples.
    public mutating func beginBatch(_ features: Matrix, positions: [Int], computed: StaticBatch) -> PendingBatch {
        precondition(positions.count == features.rows, "one position per feature row")
        precondition(computed.z.rows == features.rows && computed.z.cols == space.labelCount, "static batch of another shape")
        let z = computed.z, summaries = computed.summaries
        let activity = updateBank(features: features, z: z, summaries: summaries, positions: positions,
                                  entropies: (computed.idEntropies, computed.negativeEntropies))
        let start = positions.first ?? nextPosition
        nextPosition = (positions.last ?? start - 1) + 1
        return PendingBatch(features: features, z: z, summaries: summaries, start: start, activity: activity,
                            staticTerms: parameters.variant == .adagap ? nil : computed.staticTerms)
    }

    /// Phase 2: adaptive proxies from the bank as it is now, `S_ada`, prediction, final scores.
    public mutating func finishBatch(_ batch: PendingBatch) -> [SampleScore] {
        finishBatch(batch, outputs: [Output(lambda: parameters.lambda, inScore: parameters.inScore)])[0]
    }

    /// How the final score and the prediction combine `S_ada` and `S_nl`: λ and `in_score`
    /// change nothing else (not the bank, not the proxies), so a sweep gets every (λ, in_score)
    /// of a point from one adaptive pass.
    public struct Output: Sendable, Hashable {
        public var lambda: Double
        public var inScore: InScoreMode
        public init(lambda: Double, inScore: InScoreMode) {
            self.lambda = lambda
            self.inScore = inScore
        }
    }

    /// Phase 2 with several final combinations: one list of scores per entry of `outputs`,
    /// each what a scorer with that λ and `in_score` would return.
    public mutating func finishBatch(_ batch: PendingBatch, outputs: [Output]) -> [[SampleScore]] {
        let features = batch.features, z = batch.z, summaries = batch.summaries
        let b = features.rows
        let width = space.labelCount
        let s = Float(parameters.logitScale)
        proxies.refresh(rows: bank.takeDirtyRows(), bank: bank, space: space)
        var adaptive = z
        proxies.apply(features: features, staticLogits: z, adaptive: &adaptive, bank: bank, space: space,
                      logitScale: s, beta: parameters.effectiveBeta)
        let adaptiveSummaries = Self.summarize(adaptive, space: space, argmax: false)

        let c = space.numID
        let adagap = parameters.variant == .adagap
        var all = [[SampleScore]](repeating: [], count: outputs.count)
        for o in all.indices { all[o].reserveCapacity(b) }
        // The ID softmax terms of the prediction depend on neither λ nor in_score: computed
        // once per sample, then combined for each output.
        var staticTerms = [Float](repeating: 0, count: c)
        var adaptiveTerms = [Float](repeating: 0, count: c)
        z.storage.withUnsafeBufferPointer { zBuf in
            adaptive.storage.withUnsafeBufferPointer { aBuf in
                for i in 0..<b {
                    let st = summaries[i], ad = adaptiveSummaries[i]
                    let zRow = zBuf.baseAddress! + i * width, aRow = aBuf.baseAddress! + i * width
                    let shiftZ = adagap ? st.lseID : st.lseAll
                    let shiftA = adagap ? ad.lseID : ad.lseAll
                    if let shared = batch.staticTerms {
                        for k in 0..<c { staticTerms[k] = shared[i * c + k] }
                    } else {
                        for k in 0..<c { staticTerms[k] = Float(exp(Double(zRow[k]) - shiftZ)) }
                    }
                    for k in 0..<c { adaptiveTerms[k] = Float(exp(Double(aRow[k]) - shiftA)) }
                    let sNL = st.groupedScore, sAda = ad.groupedScore
                    let mcm = exp(Double(st.maxID) - st.lseID)
                    for (o, output) in outputs.enumerated() {
                        let lambda = output.lambda
                        let pred = predict(staticTerms, adaptiveTerms, lambda: adagap ? 1 : Float(lambda))
                        let conf: Double
                        switch output.inScore {
                        case .adaonly: conf = sAda
                        case .vanillaonly: conf = sNL
                        case .combine: conf = adagap ? sAda + sNL : sAda + lambda * sNL
                        case .multiply: conf = sAda * sNL
                        }
                        all[o].append(SampleScore(pred: pred, conf: Float(conf), confVanilla: Float(sNL), mcm: Float(mcm), adaptive: Float(sAda),
                                                  predStatic: st.argmaxID))
                    }
                }
            }
        }
        return all
    }

    /// Scores one batch (rows of `features`, L2-normalised) at stream positions
    /// `startPosition ..< startPosition + rows`, updating the bank first.
    public mutating func score(batch features: Matrix, startPosition: Int? = nil) throws(Problem) -> ([SampleScore], BatchBankActivity) {
        let pending = try beginBatch(features, startPosition: startPosition)
        return (finishBatch(pending), pending.activity)
    }

    /// Scores a whole stream in batches of `parameters.batchSize`, in order.
    public mutating func scoreStream(_ features: Matrix) throws(Problem) -> [SampleScore] {
        var out = [SampleScore]()
        out.reserveCapacity(features.rows)
        var start = 0
        while start < features.rows {
            let end = min(features.rows, start + parameters.batchSize)
            out += try score(batch: features.rows(start..<end), startPosition: start).0
            start = end
        }
        return out
    }

    /// Scores a stream in which some samples have no feature (`missing[i]`: an all-zero row,
    /// what `embed-images --skip-bad` writes for an unreadable image). Batches stay slices of
    /// B stream positions; a missing sample is left out of its batch and gets nil, exactly as
    /// a distributed worker treats an unreadable image, so the two paths agree.
    public mutating func scoreStream(_ features: Matrix, missing: [Bool]) throws(Problem) -> [SampleScore?] {
        precondition(missing.count == features.rows, "one flag per row")
        var out = [SampleScore?](repeating: nil, count: features.rows)
        var start = 0
        while start < features.rows {
            let end = min(features.rows, start + parameters.batchSize)
            let usable = (start..<end).filter { !missing[$0] }
            if !usable.isEmpty {
                let pending = try beginBatch(features.gatherRows(usable), positions: usable)
                for (i, score) in zip(usable, finishBatch(pending)) { out[i] = score }
            }
            start = end
        }
        return out
    }

    // MARK: Memory bank

    /// Entries this scorer inserted since the last call (a worker's push).
    public mutating func takeBankDelta() -> BankDelta { bank.takeLocalDelta() }

    /// Applies entries from other replicas; proxies refresh before the next batch.
    @discardableResult
    public mutating func mergeBank(_ delta: BankDelta) -> BankDelta { bank.merge(delta) }

    private mutating func updateBank(
        features: Matrix, z: Matrix, summaries: [LogitSummary], positions: [Int], entropies: (id: [Float]?, negatives: [Float]?)
    ) -> BatchBankActivity {
        var activity = BatchBankActivity()
        var (idGate, oodGate) = (parameters.idGate, parameters.oodGate)
        if var w = window {
            for st in summaries where Float(st.groupedScore) > idGate { w.push(1) }
            for st in summaries where Float(st.groupedScore) < oodGate { w.push(0) }
            (idGate, oodGate) = w.gates(parameters)
            window = w
        }
        guard bank.capacity > 0 else { return activity }
        let width = space.labelCount
        let c = space.numID
        let useEntropy = parameters.replacement == .entropy
        z.storage.withUnsafeBufferPointer { zBuf in
            features.storage.withUnsafeBufferPointer { fBuf in
                func record(_ outcome: InsertOutcome) {
                    switch outcome {
                    case .appended: activity.appended += 1
                    case .replaced: activity.replaced += 1
                    case .rejected, .duplicate: activity.rejected += 1
                    }
                }
                let feature = { (i: Int) in UnsafeBufferPointer(rebasing: fBuf[i * features.cols ..< (i + 1) * features.cols]) }
                for (i, st) in summaries.enumerated() where Float(st.groupedScore) > idGate {
                    activity.idConfident += 1
                    let row = zBuf.baseAddress! + i * width
                    let shared = entropies.id?[i] ?? .nan
                    let h = !useEntropy ? 0 : !shared.isNaN ? shared : softmaxEntropy(UnsafeBufferPointer(start: row, count: c), lse: st.lseID)
                    record(bank.insert(row: st.argmaxID, key: BankKey(primary: h, position: positions[i]), feature: feature(i)))
                }
                for (i, st) in summaries.enumerated() where Float(st.groupedScore) < oodGate {
                    activity.oodConfident += 1
                    let row = zBuf.baseAddress! + i * width
                    let negatives = UnsafeBufferPointer(start: row + c, count: space.numNegatives)
                    let label = argmaxNegative(negatives)
                    let shared = entropies.negatives?[i] ?? .nan
                    let h = !useEntropy ? 0 : !shared.isNaN ? shared : softmaxEntropy(negatives, lse: st.lseNegatives)
                    record(bank.insert(row: label, key: BankKey(primary: h, position: positions[i]), feature: feature(i)))
                }
            }
        }
        return activity
    }

    /// The negative label with the highest logit over all M negatives (dropped ones too),
    /// as an original label index; ties go to the lowest original index like `torch.max`.
    private func argmaxNegative(_ negatives: UnsafeBufferPointer<Float>) -> Int {
        let c = space.numID
        var best = -1
        var bestValue = -Float.infinity
        for j in negatives.indices {
            let v = negatives[j]
            let label = space.originalLabel[c + j]
            if best < 0 || v > bestValue || (v == bestValue && label < best) {
                best = label
                bestValue = v
            }
        }
        return best
    }

    // MARK: Prediction

    /// `argmax_{i≤C} softmax(z)_i + λ·softmax(z')_i` over all labels (AdaGap: ID-only softmaxes,
    /// λ = 1), from the two softmaxes' ID terms.
    private func predict(_ staticTerms: [Float], _ adaptiveTerms: [Float], lambda: Float) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<space.numID {
            let p = staticTerms[i] + lambda * adaptiveTerms[i]
            if p > bestValue {
                bestValue = p
                best = i
            }
        }
        return best
    }

    private static func summarize(_ logits: Matrix, space: LabelSpace, argmax: Bool = true) -> [LogitSummary] {
        let b = logits.rows
        let width = logits.cols
        var out = [LogitSummary](repeating: LogitSummary(lseID: 0, lseAll: 0, lseNegatives: 0, groupedScore: 0, maxID: 0, argmaxID: 0), count: b)
        logits.storage.withUnsafeBufferPointer { lBuf in
            let lp = SharedConstPointer(lBuf.baseAddress!)
            out.withUnsafeMutableBufferPointer { oBuf in
                let op = SharedPointer(oBuf.baseAddress!)
                parallelChunks(b, minimumChunk: 8) { range in
                    for i in range { op.base[i] = LogitSummary.of(lp.base + i * width, in: space, argmax: argmax) }
                }
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
