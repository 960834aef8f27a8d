import Foundation
import Tensor

/// The text tower's chunk size (trie nodes per product), measured per machine.
///
/// Why it may be measured: every node's arithmetic is the same whatever chunk it lands in, so the
/// size changes no bit of a feature (`TextTrieTests.chunkSizeInvariant`); it only trades longer
/// products and more shared prefixes against activations that outgrow the caches. Which wins
/// depends on the CPU's caches and kernels, so it is measured once (`measureChunkRows`: the
/// tower's first two layers over NegMining-shaped prompts at each candidate size) and kept in
/// the `ChoiceCache` next to the converted weights. Order of precedence: `ADANEG_TEXT_CHUNK_ROWS`,
/// the kept measurement, a new measurement, and without a cache folder the default.
extension TextTransformer {
    public static let chunkRowsVariable = "ADANEG_TEXT_CHUNK_ROWS"
    /// Without a measurement: the fastest of 2,048–16,384 on the 2-core Xeon (BENCHMARKS.md).
    public static let defaultChunkRows = 2048
    /// The sizes a measurement times.
    public static let chunkCandidates = [1024, 2048, 4096, 8192]
    static let chunkChoiceName = "text chunk rows"

    /// The cache entry a measurement is kept under: what it depends on besides the machine.
    func chunkEntry(_ element: MatmulOperand.Element) -> String {
        let intermediate = encoder.layers.first?.fc1.outFeatures ?? 0
        return "textChunkRows \(element == .f32 ? "f32" : "bf16") hidden \(config.hiddenSize) intermediate \(intermediate) heads \(encoder.heads) threads \(BLAS.threads)"
    }

    /// The chunk size this tower runs its trie path with in `element`, and where it came from.
    /// Measures (a few seconds, once per machine) when the cache folder has no measurement.
    public func chunkRowsChoice(element: MatmulOperand.Element,
                                environment: [String: String] = ProcessInfo.processInfo.environment,
                                measure: ((TextTransformer, MatmulOperand.Element) -> ChoiceCache.Measurement)? = nil) -> MeasuredChoice {
        var ignored = ""
        switch positiveOverride(Self.chunkRowsVariable, environment: environment) {
        case .success(let rows)?:
            return MeasuredChoice(name: Self.chunkChoiceName, value: rows, source: .override, detail: "\(Self.chunkRowsVariable)=\(rows)")
        case .failure(let problem)?:
            ignored = problem.description + "; "
        case nil:
            break
        }
        guard let folder = choiceFolder else {
            return MeasuredChoice(name: Self.chunkChoiceName, value: Self.defaultChunkRows, source: .default,
                                  detail: ignored + "no cache folder to keep a measurement in (ADANEG_WEIGHT_CACHE=off or a model loaded without one)")
        }
        let cache = ChoiceCache(folder: folder)
        let found = cache.measurement(chunkEntry(element)) { (measure ?? { $0.measureChunkRows(element: $1) })(self, element) }
        var detail = ignored
        if let problem = found.problem { detail += "\(cache.path) was \(problem): measured again; " }
        detail += found.stored ? "kept in \(cache.path)" : "could not write \(cache.path): not kept"
        return MeasuredChoice(name: Self.chunkChoiceName, value: found.value.best, source: found.measuredNow ? .measured : .cached,
                              detail: detail, measurement: found.value)
    }

    /// `maxRows`, else this process's choice for `element` (resolved once per folder and entry).
    func resolvedChunkRows(_ element: MatmulOperand.Element) -> Int {
        if let maxRows { return maxRows }
        let key = (choiceFolder?.path ?? "") + "\n" + chunkEntry(element)
        return ChunkChoiceMemo.shared.value(key) {
            let choice = chunkRowsChoice(element: element)
            // Said once per process: a new measurement, and an override that cannot be used
            // (whatever the choice fell back to), so a mistyped variable is never silently ignored.
            let refused = if case .failure? = positiveOverride(Self.chunkRowsVariable, environment: ProcessInfo.processInfo.environment) { true } else { false }
            if choice.source == .measured || refused {
                FileHandle.standardError.write(Data("note: \(choice.line)\n".utf8))
            }
            return choice.value
        }
    }

    // MARK: The probe

    /// Times the tower's first two layers (the second as the last layer runs) over the same
    /// NegMining-shaped prompts cut into chunks of each candidate size; the best of `rounds`
    /// interleaved rounds per size (the first round also creates oneDNN's primitives).
    func measureChunkRows(element: MatmulOperand.Element, candidates: [Int] = TextTransformer.chunkCandidates,
                          rounds: Int = 2) -> ChoiceCache.Measurement {
        var probe = encoder
        probe.layers = Array(encoder.layers.prefix(2))
        let sequences = Self.probeSequences(vocab: config.vocabSize, maxLength: config.maxPositionEmbeddings,
                                            nodes: candidates.max() ?? Self.defaultChunkRows)
        let lengths = sequences.map(\.count)
        var best = [Double](repeating: .infinity, count: candidates.count)
        let clock = ContinuousClock()
        for _ in 0 ..< max(1, rounds) {
            for (i, rows) in candidates.enumerated() {
                let start = clock.now
                _ = embedTrie(sequences, lengths: lengths, element: element, rows: rows, encoder: probe)
                let elapsed = (clock.now - start).components
                best[i] = min(best[i], Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
            }
        }
        let nodes = TokenTrie(sequences, maxRows: Int.max).chunks.first?.count ?? 0
        let scope = "\(element == .f32 ? "fp32" : "bf16"), 2 of \(encoder.layers.count) layers, hidden \(config.hiddenSize), \(sequences.count) prompts (\(nodes) nodes), \(BLAS.threads) threads"
        return ChoiceCache.Measurement(candidates: candidates, seconds: best, scope: scope)
    }

    /// Prompts shaped like NegMining's: a start token, one of two templates, a word of one to
    /// four pieces (first pieces drawn from a small set, so words share them), an end — until
    /// their trie has at least `nodes` nodes. Deterministic; ids wrap into the vocabulary.
    static func probeSequences(vocab: Int, maxLength: Int, nodes: Int) -> [[Int]] {
        let v = max(vocab, 2)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let templates = [[320, 1215, 4052], [589, 533, 320, 1125]]
        var sequences: [[Int]] = []
        while true {
            for _ in 0 ..< 256 {
                var seq = [v - 2] + templates[next(2)]
                let pieces = 1 + next(4)
                seq.append(1000 + next(256))
                for _ in 1 ..< pieces { seq.append(2000 + next(4096)) }
                seq += [269, v - 1]
                sequences.append(Array(seq.map { $0 % v }.prefix(max(1, maxLength))))
            }
            if (TokenTrie(sequences, maxRows: Int.max).chunks.first?.count ?? 0) >= nodes || sequences.count > 64 * nodes { return sequences }
        }
    }
}

/// Each process resolves a chunk choice once (reading the file or measuring), then reuses it.
final class ChunkChoiceMemo: @unchecked Sendable {
    static let shared = ChunkChoiceMemo()
    private let lock = NSLock()
    private var values: [String: Int] = [:]

    func value(_ key: String, _ resolve: () -> Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if let known = values[key] { return known }
        let value = resolve()
        values[key] = value
        return value
    }
}

extension TextTransformer {
    /// What `doctor` shows for the chunk size without loading a model: the override, or each
    /// measurement kept for this machine in `folder` (one per element, tower shape and thread
    /// count), or the default and when it will be measured. Measures nothing.
    public static func chunkRowsSurvey(folder: URL?, environment: [String: String] = ProcessInfo.processInfo.environment) -> [MeasuredChoice] {
        var ignored = ""
        switch positiveOverride(chunkRowsVariable, environment: environment) {
        case .success(let rows)?:
            return [MeasuredChoice(name: chunkChoiceName, value: rows, source: .override, detail: "\(chunkRowsVariable)=\(rows)")]
        case .failure(let problem)?:
            ignored = problem.description + "; "
        case nil:
            break
        }
        guard let folder else {
            return [MeasuredChoice(name: chunkChoiceName, value: defaultChunkRows, source: .default,
                                   detail: ignored + "no cache folder to keep a measurement in (ADANEG_WEIGHT_CACHE=off)")]
        }
        let cache = ChoiceCache(folder: folder)
        switch cache.load() {
        case .success(let entries):
            let kept = entries.filter { $0.key.hasPrefix("textChunkRows ") }.sorted { $0.key < $1.key }
            if kept.isEmpty {
                return [MeasuredChoice(name: chunkChoiceName, value: defaultChunkRows, source: .default,
                                       detail: ignored + "not measured on this machine yet: the first text-tower run of a model measures it (a few seconds) and keeps it in \(cache.path)")]
            }
            return kept.map { MeasuredChoice(name: chunkChoiceName, value: $0.value.best, source: .cached, detail: ignored + "\($0.key), kept in \(cache.path)", measurement: $0.value) }
        case .failure(let problem):
            return [MeasuredChoice(name: chunkChoiceName, value: defaultChunkRows, source: .default,
                                   detail: ignored + "\(cache.path) is \(problem): not used; the next text-tower run measures again and replaces it")]
        }
    }
}
