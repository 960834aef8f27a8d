import Tensor

/// The `k` candidates with the lowest η seen so far (ties: the lower candidate index, as
/// `NegativeSelection.select` breaks them) and their features, fed one block at a time.
///
/// Why: the chosen negatives' features are written to `text-features.npy`. Keeping them from
/// the η pass, instead of embedding the chosen prompts a second time, saves 10,000 of the
/// 82,021 prompts an ImageNet run embeds, and holds only `k` rows, never all 71,021.
/// Since it keeps exactly the `k` lowest `(η, index)` pairs, it holds every candidate
/// `select` picks with the same `k`.
struct LowestEtas {
    let k: Int
    let cols: Int
    private(set) var indices: [Int] = []
    private(set) var etas: [Float] = []
    private(set) var features: [Float] = []

    init(keep k: Int, cols: Int) {
        self.k = k
        self.cols = cols
    }

    /// Offers candidates `indices[r]` with `etas[r]` and feature row `r` of `features`.
    mutating func add(indices newIndices: [Int], etas newEtas: [Float], features block: Matrix) {
        precondition(newIndices.count == newEtas.count && block.rows == newIndices.count && block.cols == cols)
        guard k > 0 else { return }
        // Current entries are 0..<indices.count, the block's follow.
        let current = indices.count
        func key(_ i: Int) -> (Float, Int) { i < current ? (etas[i], indices[i]) : (newEtas[i - current], newIndices[i - current]) }
        let kept = (0 ..< current + newIndices.count).sorted { key($0) < key($1) }.prefix(k)
        var nextIndices: [Int] = [], nextEtas: [Float] = [], nextFeatures: [Float] = []
        nextIndices.reserveCapacity(kept.count); nextEtas.reserveCapacity(kept.count); nextFeatures.reserveCapacity(kept.count * cols)
        for i in kept {
            let (eta, index) = key(i)
            nextIndices.append(index)
            nextEtas.append(eta)
            if i < current {
                nextFeatures += features[i * cols ..< (i + 1) * cols]
            } else {
                let r = i - current
                nextFeatures += block.storage[r * cols ..< (r + 1) * cols]
            }
        }
        (indices, etas, features) = (nextIndices, nextEtas, nextFeatures)
    }

    /// The kept features of candidates `wanted`, row after row, or nil when one of them is not
    /// among the lowest `k`.
    func features(of wanted: [Int]) -> [Float]? {
        let row = Dictionary(uniqueKeysWithValues: indices.enumerated().map { ($1, $0) })
        var out: [Float] = []
        out.reserveCapacity(wanted.count * cols)
        for index in wanted {
            guard let r = row[index] else { return nil }
            out += features[r * cols ..< (r + 1) * cols]
        }
        return out
    }
}
