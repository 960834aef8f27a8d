import Tensor

/// CLIP-like features for demos, tests and benchmarks, deterministic from a seed.
///
/// The geometry imitates what makes CLIP-based OOD detection behave as it does:
/// - text features share a common "text" direction (label prompts are similar to each other);
/// - image features share a common "image" direction orthogonal to it (the modality gap), so an
///   image has cosine ≈ 0.3 with its own label and ≈ 0.1 with others, and softmaxes at logit
///   scale 100 are peaked but not one-hot, as with real CLIP;
/// - OOD sets of three kinds: `covered` (images of concepts that some negative labels name),
///   `uncovered` (clusters of concepts no label names: static negatives cannot catch them, the
///   bank's adaptive proxies can) and `nearID` (concepts close to an ID class).
public struct SyntheticBenchmark: Sendable {
    public enum OODKind: String, Sendable, CaseIterable {
        case covered, uncovered, nearID = "near-id"
    }

    public struct Shape: Sendable, Equatable {
        public var classes: Int
        public var negatives: Int
        public var dimension: Int
        public var idSamples: Int
        public var oodSamples: Int

        public init(classes: Int, negatives: Int, dimension: Int, idSamples: Int, oodSamples: Int) {
            self.classes = classes
            self.negatives = negatives
            self.dimension = dimension
            self.idSamples = idSamples
            self.oodSamples = oodSamples
        }

        /// A shape that runs in seconds: the demo's default.
        public static let demo = Shape(classes: 100, negatives: 1000, dimension: 128, idSamples: 3000, oodSamples: 1500)
    }

    public let shape: Shape
    public let seed: UInt64
    /// (C + M) × D, ID labels first.
    public let text: Matrix
    public let idFeatures: Matrix
    public let idLabels: [Int]
    public let oodSets: [(kind: OODKind, features: Matrix)]

    public init(shape: Shape, seed: UInt64) {
        precondition(shape.classes > 0 && shape.negatives > 0 && shape.dimension >= 8)
        self.shape = shape
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        let d = shape.dimension
        let textAxis = Self.randomUnit(d, &rng)
        let imageAxis = Self.orthogonalize(Self.randomUnit(d, &rng), against: textAxis)

        // Label concepts: one random direction each, ID then negatives.
        let labelCount = shape.classes + shape.negatives
        let concepts = (0..<labelCount).map { _ in Self.randomUnit(d, &rng) }
        var text = Matrix(rows: labelCount, cols: d)
        for k in 0..<labelCount {
            let t = Self.combine([(0.9, textAxis), (1.0, concepts[k]), (0.35, Self.randomUnit(d, &rng))])
            for x in 0..<d { text[k, x] = t[x] }
        }
        self.text = text

        func image(of concept: [Float], strength: Float, rng: inout SplitMix64) -> [Float] {
            Self.combine([(1.55, imageAxis), (strength, concept), (0.75, Self.randomUnit(d, &rng))])
        }

        // ID images: mostly clear, a tail of ambiguous ones (mixed with a second class).
        var idRows = [[Float]]()
        var idLabels = [Int]()
        for _ in 0..<shape.idSamples {
            let k = Int(rng.next(upperBound: UInt64(shape.classes)))
            var concept = concepts[k]
            if rng.nextUnit() < 0.25 {
                let other = concepts[Int(rng.next(upperBound: UInt64(shape.classes)))]
                concept = Self.combine([(1.0, concept), (Float(0.4 + 0.5 * rng.nextUnit()), other)])
            }
            idRows.append(image(of: concept, strength: Float(0.85 + 0.4 * rng.nextUnit()), rng: &rng))
            idLabels.append(k)
        }
        self.idFeatures = Matrix(rowsOf: idRows)
        self.idLabels = idLabels

        var sets = [(kind: OODKind, features: Matrix)]()
        for kind in OODKind.allCases {
            var rows = [[Float]]()
            switch kind {
            case .covered:
                for _ in 0..<shape.oodSamples {
                    let j = shape.classes + Int(rng.next(upperBound: UInt64(shape.negatives)))
                    rows.append(image(of: concepts[j], strength: Float(0.75 + 0.4 * rng.nextUnit()), rng: &rng))
                }
            case .uncovered:
                let clusters = max(4, shape.oodSamples / 60)
                let centres = (0..<clusters).map { _ in Self.randomUnit(d, &rng) }
                for _ in 0..<shape.oodSamples {
                    let c = centres[Int(rng.next(upperBound: UInt64(clusters)))]
                    let concept = Self.combine([(1.0, c), (0.35, Self.randomUnit(d, &rng))])
                    rows.append(image(of: concept, strength: Float(0.9 + 0.4 * rng.nextUnit()), rng: &rng))
                }
            case .nearID:
                for _ in 0..<shape.oodSamples {
                    let k = Int(rng.next(upperBound: UInt64(shape.classes)))
                    let concept = Self.combine([(0.75, concepts[k]), (1.0, Self.randomUnit(d, &rng))])
                    rows.append(image(of: concept, strength: Float(0.85 + 0.4 * rng.nextUnit()), rng: &rng))
                }
            }
            sets.append((kind, Matrix(rowsOf: rows)))
        }
        self.oodSets = sets
    }

    /// The stream of one task: ID ∪ OOD set, shuffled by `seed`. Labels: ID class or −1.
    public func stream(for kind: OODKind, seed: UInt64) -> (features: Matrix, labels: [Int]) {
        guard let set = oodSets.first(where: { $0.kind == kind }) else { preconditionFailure("unknown OOD kind") }
        let total = idFeatures.rows + set.features.rows
        var order = Array(0..<total)
        var rng = SplitMix64(seed: seed)
        if total > 1 {
            for i in stride(from: total - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next(upperBound: UInt64(i + 1))))
            }
        }
        var features = Matrix(rows: total, cols: shape.dimension)
        var labels = [Int](repeating: -1, count: total)
        for (dst, src) in order.enumerated() {
            let row = src < idFeatures.rows ? idFeatures.row(src) : set.features.row(src - idFeatures.rows)
            for x in 0..<shape.dimension { features[dst, x] = row[x] }
            labels[dst] = src < idFeatures.rows ? idLabels[src] : -1
        }
        return (features, labels)
    }

    // MARK: Vector helpers

    static func randomUnit(_ d: Int, _ rng: inout SplitMix64) -> [Float] {
        normalize((0..<d).map { _ in Float(rng.nextGaussian()) })
    }

    static func normalize(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }

    static func orthogonalize(_ v: [Float], against axis: [Float]) -> [Float] {
        let p = zip(v, axis).reduce(0) { $0 + $1.0 * $1.1 }
        return normalize(zip(v, axis).map { $0 - p * $1 })
    }

    static func combine(_ terms: [(Float, [Float])]) -> [Float] {
        var out = [Float](repeating: 0, count: terms[0].1.count)
        for (w, v) in terms {
            for i in out.indices { out[i] += w * v[i] }
        }
        return normalize(out)
    }
}
