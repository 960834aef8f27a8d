import Tensor

/// The selection step of NegMining (docs/algorithm.md, "Labels and negatives") as pure functions.
public enum NegativeSelection {
    /// Candidates after step 2: without ID class names, and without adjectives that are also
    /// nouns.
    public static func filter(nouns: [String], adjectives: [String], idClasses: [String]) -> (nouns: [String], adjectives: [String]) {
        let ids = Set(idClasses)
        let nounSet = Set(nouns)
        return (nouns.filter { !ids.contains($0) },
                adjectives.filter { !ids.contains($0) && !nounSet.contains($0) })
    }

    /// `η` of one candidate: its cosine similarities to the C ID features, sorted ascending,
    /// at index ⌊0.95·C⌋ (the 95th percentile). Found by selection, not by sorting: the value
    /// is the same, and sorting 1,000 similarities for each of 71,021 candidates was the
    /// largest cost of `mine-negatives` outside the text tower.
    public static func eta(_ similarities: [Float]) -> Float {
        precondition(!similarities.isEmpty)
        var values = similarities
        let k = min(values.count - 1, Int((0.95 * Double(values.count)).rounded(.down)))
        return values.withUnsafeMutableBufferPointer { orderStatistic(k, of: $0) }
    }

    /// The value `sorted()[k]` has (`k` from 0), by quickselect (Hoare partition around a
    /// median of three): linear time on average; reorders `v`.
    static func orderStatistic(_ k: Int, of v: UnsafeMutableBufferPointer<Float>) -> Float {
        var lo = 0, hi = v.count - 1
        while lo < hi {
            let (a, b, c) = (v[lo], v[lo + (hi - lo) / 2], v[hi])
            let pivot = max(min(a, b), min(max(a, b), c))
            var i = lo, j = hi
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j {
                    v.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now v[lo...j] ≤ pivot ≤ v[i...hi], and whatever lies between equals the pivot.
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return v[k]
            }
        }
        return v[k]
    }

    /// `η` for every row of a candidate block against the ID features (both L2-normalised):
    /// one GEMM per block, so the full 73k × 1000 matrix never exists.
    public static func etas(candidates: Matrix, idFeatures: Matrix) -> [Float] {
        let sims = BLAS.matmulTransposed(candidates, idFeatures)
        return (0..<sims.rows).map { eta(sims.row($0)) }
    }

    /// Step 5: `a = ⌊M·n_adj/(n_adj + n_noun)⌋` adjectives and `M − a` nouns with the lowest
    /// η (ties: candidate order), adjectives first, each part in ascending η.
    /// Returns indices into the noun and adjective candidate lists.
    public static func select(count m: Int, nounEtas: [Float], adjectiveEtas: [Float]) -> (adjectives: [Int], nouns: [Int]) {
        let (a, n) = split(count: m, nouns: nounEtas.count, adjectives: adjectiveEtas.count)
        func lowest(_ etas: [Float], _ k: Int) -> [Int] {
            Array(etas.indices.sorted { (etas[$0], $0) < (etas[$1], $1) }.prefix(k))
        }
        return (lowest(adjectiveEtas, a), lowest(nounEtas, n))
    }

    /// How many adjectives and nouns step 5 keeps, from the candidates' counts alone (so the
    /// embedding pass knows before any η how many of each part's features it must keep).
    public static func split(count m: Int, nouns: Int, adjectives: Int) -> (adjectives: Int, nouns: Int) {
        let total = nouns + adjectives
        guard total > 0, m > 0 else { return (0, 0) }
        let a = min(Int((Double(m) * Double(adjectives) / Double(total)).rounded(.down)), adjectives)
        return (a, min(m - a, nouns))
    }
}
