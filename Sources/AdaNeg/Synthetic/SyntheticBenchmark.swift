import Tensor

/// CLIP-like features for demos, tests and benchmarks, deterministic from a seed (SplitMix64 only).
///
/// The generative model imitates the geometry that makes CLIP-based OOD detection behave as it does
/// (ImageNet, ViT-B/16, logit scale 100), so that MCM < NegLabel < AdaNeg comes out as in the paper.
///
/// **Spaces.** Two mean directions, a text direction and an image direction with cosine 0.35 between
/// them (the modality gap). All "meaning" lives in a semantic subspace of at most 96 dimensions
/// orthogonal to both, the same at every D, so that D = 128 and D = 512 behave alike (real CLIP's
/// semantics use far fewer dimensions than D).
///
/// **Labels.** A three-level hierarchy: one ID *domain* direction; superclasses (about 10 ID classes
/// each) that share the domain with weight² 0.3; classes that share their superclass with weight² 0.45.
/// A text feature is `√0.7 · text direction + √0.3 · (concept + prompt noise)`, so label prompts are all
/// alike (pairwise cos ≈ 0.7), as in CLIP. Negative labels come from a NegMining imitation: twice M
/// candidates in their own superclasses (with a random, small share of the ID domain) and the M whose
/// 95th-percentile cosine to the ID prompts is lowest are kept, sorted by it, as NegMining does.
///
/// **Images.** `normalise(√0.2 · image direction + √0.3 · aligned + √0.2 · visual + √0.3 · style)`:
/// - *aligned*: the text-nameable content, the concept plus per-image noise; it is the only part that
///   text features see, so image–text cosines come out ≈ 0.37 for the right class and ≈ 0.19 for others;
/// - *visual*: content only images share (a per-concept visual prototype plus noise; ID classes have
///   hierarchical prototypes too), so images of one concept are much closer to each other (≈ 0.8) than
///   to their label text: this is what AdaNeg's memory bank exploits;
/// - *style*: one direction per data set (ImageNet-like ID, and each OOD set its own; near-ID shares the
///   ID style, like SSB-hard), so a data set's images look alike.
///
/// **ID images.** Uniform classes; 70% are ambiguous (they also show a second class, usually a sibling
/// in the same superclass, with weight 0.3–1.2), which puts zero-shot top-1 around 70–80%.
///
/// **OOD sets.** Each OOD set is a few dozen concepts, as real OOD benchmarks are (iNaturalist, SUN,
/// Textures: ~50–100 categories):
/// - `covered`: images of concepts next to a negative label (like iNaturalist plants for WordNet
///   negatives): NegLabel is strong, AdaNeg a little stronger;
/// - `uncovered`: clusters (≈ 60 images each) around novel concepts in the ID domain that neither an ID
///   nor a negative label names (NegMining keeps negatives away from the ID domain); static negatives
///   catch them only partly, but clear members are cached in the bank and their visual prototype and
///   style then give away the rest of the cluster, so AdaNeg improves most here;
/// - `near-id`: concepts close to one ID class (weight² 0.3–0.45 on it, visually similar too, ID style):
///   the hardest set for every method.
/// In `covered` and `uncovered`, 20% of the images also show an ID-class object (the "kitchen with a
/// microwave" case), which gives MCM its tens-of-percent FPR95 and NegLabel its hard tail.
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

        /// Bytes of all the generated features (text, ID and the three OOD sets, float32),
        /// nil when the count overflows: the commands refuse a shape whose data could not be
        /// held before they start filling matrices.
        public var byteCount: Int? {
            let (labels, o1) = classes.addingReportingOverflow(negatives)
            let (ood, o2) = oodSamples.multipliedReportingOverflow(by: 3)
            let (samples, o3) = idSamples.addingReportingOverflow(ood)
            let (rows, o4) = labels.addingReportingOverflow(samples)
            guard !(o1 || o2 || o3 || o4) else { return nil }
            return MemoryEstimate.product(rows, dimension, 4)
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

    /// The model's constants (tuned so that both the demo and the ImageNet shape look like real CLIP).
    enum Model {
        static let semanticDimensions = 96
        static let gapCosine: Float = 0.35        // cos(image direction, text direction)
        static let textShared: Float = 0.7        // text energy on the text direction
        static let promptNoise: Float = 0.3       // a prompt's deviation from its concept
        static let imageShared: Float = 0.2       // image energy on the image direction,
        static let alignedShare: Float = 0.3      //   on text-nameable content,
        static let visualShare: Float = 0.2       //   on visual-only content,
        static let styleShare: Float = 0.3        //   on the data set's style
        static let alignedNoise: Float = 0.5      // per-image noise (scaled by 0.7–1.3 per image)
        static let visualNoise: Float = 0.7
        static let groupSize: Float = 10          // ID classes per superclass
        static let domainWeight: Float = 0.3      // weight² of the domain in an ID superclass
        static let superWeight: Float = 0.45      // weight² of the superclass in a class
        static let negativeDomainMax: Float = 0.3 // negative superclasses: weight² of the ID domain in [0, this]
        static let candidatesPerNegative: Float = 2
        static let ambiguousShare = 0.7
        static let siblingShare = 0.7             // an ambiguous image's second class is a sibling
        static let ambiguityRange: ClosedRange<Float> = 0.3...1.2
        static let imagesPerConcept: Float = 30   // covered and near-ID concepts
        static let imagesPerCluster: Float = 60   // uncovered clusters
        static let coveredSpread: Float = 0.3     // an OOD concept's distance from its negative label
        static let coveredIDSuper: Float = 0.1    //   and its pull towards an ID superclass
        static let uncoveredDomainMax: Float = 0.5 // weight² of the ID domain in a cluster centre, in [0, this]
        static let uncoveredSpread: Float = 0.7   // per-image spread of the aligned content in a cluster
        static let idObjectShare = 0.2            // OOD images that also show an ID-class object,
        static let coveredIDObject: Float = 1.2   //   with weight (0.25–1) × this
        static let uncoveredIDObject: Float = 1.5
        static let nearIDWeight: ClosedRange<Float> = 0.3...0.45 // weight² of the ID class in a near-ID concept
        static let nearIDVisual: Float = 0.4      // weight² of the ID class's visual prototype
    }

    public init(shape: Shape, seed: UInt64) {
        precondition(shape.classes > 0 && shape.negatives > 0 && shape.dimension >= 8)
        self.shape = shape
        self.seed = seed
        typealias P = Model
        var rng = SplitMix64(seed: seed)
        let d = shape.dimension
        let c = shape.classes

        // Mean directions and the semantic subspace orthogonal to both.
        let textAxis = Self.randomUnit(d, &rng)
        let gapAxis = Self.orthogonalize(Self.randomUnit(d, &rng), against: textAxis)
        let imageAxis = Self.combine([(P.gapCosine, textAxis), ((1 - P.gapCosine * P.gapCosine).squareRoot(), gapAxis)])
        let semanticDimensions = min(d, P.semanticDimensions)
        func semantic(_ rng: inout SplitMix64) -> [Float] {
            var v = [Float](repeating: 0, count: d)
            for i in 0..<semanticDimensions { v[i] = Float(rng.nextGaussian()) }
            return Self.orthogonalize(Self.orthogonalize(v, against: textAxis), against: gapAxis)
        }
        /// `normalise(√w · a + √(1−w) · b)` for unit a ⟂ b: cos(result, a) ≈ √w.
        func mix(_ a: [Float], _ w: Float, _ b: [Float]) -> [Float] {
            Self.combine([(w.squareRoot(), a), ((1 - w).squareRoot(), b)])
        }
        func uniform(_ range: ClosedRange<Float>, _ rng: inout SplitMix64) -> Float {
            range.lowerBound + (range.upperBound - range.lowerBound) * Float(rng.nextUnit())
        }
        func pick(_ n: Int, _ rng: inout SplitMix64) -> Int { Int(rng.next(upperBound: UInt64(n))) }
        func textFeature(_ concept: [Float], _ rng: inout SplitMix64) -> [Float] {
            mix(textAxis, P.textShared, Self.combine([(1, concept), (P.promptNoise, semantic(&rng))]))
        }
        func image(_ aligned: [Float], _ visual: [Float], _ style: [Float], _ rng: inout SplitMix64) -> [Float] {
            let noise = Float(0.7 + 0.6 * rng.nextUnit())
            let a = Self.combine([(1, aligned), (P.alignedNoise * noise, semantic(&rng))])
            let v = Self.combine([(1, visual), (P.visualNoise * noise, semantic(&rng))])
            return Self.combine([(P.imageShared.squareRoot(), imageAxis), (P.alignedShare.squareRoot(), a),
                                 (P.visualShare.squareRoot(), v), (P.styleShare.squareRoot(), style)])
        }

        // ID hierarchy: domain → superclasses → classes, for the nameable and the visual content.
        let domain = semantic(&rng)
        let superCount = max(1, Int((Float(c) / P.groupSize).rounded()))
        let supers = (0..<superCount).map { _ in mix(domain, P.domainWeight, semantic(&rng)) }
        let superVisuals = (0..<superCount).map { _ in semantic(&rng) }
        let superOf = (0..<c).map { $0 * superCount / c }
        let concepts = (0..<c).map { mix(supers[superOf[$0]], P.superWeight, semantic(&rng)) }
        let visuals = (0..<c).map { mix(superVisuals[superOf[$0]], P.superWeight, semantic(&rng)) }
        let idText = concepts.map { textFeature($0, &rng) }
        let idStyle = semantic(&rng)

        // Negative labels: NegMining keeps the candidates whose 95th-percentile similarity to the ID
        // prompts is lowest, sorted by it.
        let candidates = max(shape.negatives, Int(Float(shape.negatives) * P.candidatesPerNegative))
        let negSuperCount = max(1, Int((Float(candidates) / P.groupSize).rounded()))
        let negSupers = (0..<negSuperCount).map { _ in
            mix(domain, P.negativeDomainMax * Float(rng.nextUnit()), semantic(&rng))
        }
        let candidateConcepts = (0..<candidates).map {
            mix(negSupers[$0 * negSuperCount / candidates], P.superWeight, semantic(&rng))
        }
        let candidateText = Matrix(rowsOf: candidateConcepts.map { textFeature($0, &rng) })
        let sims = BLAS.matmulTransposed(candidateText, Matrix(rowsOf: idText))
        let percentile = min(c - 1, Int(0.95 * Double(c)))
        let eta: [Float] = (0..<candidates).map { j in
            var row = sims.row(j)
            row.sort()
            return row[percentile]
        }
        let kept = Array((0..<candidates).sorted { eta[$0] < eta[$1] || (eta[$0] == eta[$1] && $0 < $1) }
            .prefix(shape.negatives))
        let negConcepts = kept.map { candidateConcepts[$0] }
        var text = Matrix(rows: c + shape.negatives, cols: d)
        for k in 0..<c { for x in 0..<d { text[k, x] = idText[k][x] } }
        for (j, src) in kept.enumerated() { for x in 0..<d { text[c + j, x] = candidateText[src, x] } }
        self.text = text

        // ID images, most showing some of a second class.
        var idRows = [[Float]]()
        var idLabels = [Int]()
        idRows.reserveCapacity(shape.idSamples)
        for _ in 0..<shape.idSamples {
            let label = pick(c, &rng)
            var aligned = concepts[label], visual = visuals[label]
            if rng.nextUnit() < P.ambiguousShare {
                let other: Int
                if rng.nextUnit() < P.siblingShare {
                    let lo = (superOf[label] * c + superCount - 1) / superCount
                    let hi = ((superOf[label] + 1) * c + superCount - 1) / superCount
                    other = lo + pick(hi - lo, &rng)
                } else {
                    other = pick(c, &rng)
                }
                let w = uniform(P.ambiguityRange, &rng)
                aligned = Self.combine([(1, aligned), (w, concepts[other])])
                visual = Self.combine([(1, visual), (w, visuals[other])])
            }
            idRows.append(image(aligned, visual, idStyle, &rng))
            idLabels.append(label)
        }
        self.idFeatures = Matrix(rowsOf: idRows)
        self.idLabels = idLabels

        /// How much of an ID-class object an OOD image shows: none for most.
        func idObject(_ rng: inout SplitMix64) -> Float {
            rng.nextUnit() < P.idObjectShare ? 0.25 + 0.75 * Float(rng.nextUnit()) : 0
        }
        let conceptCount = max(4, Int(Float(shape.oodSamples) / P.imagesPerConcept))
        var sets = [(kind: OODKind, features: Matrix)]()
        for kind in OODKind.allCases {
            var rows = [[Float]]()
            rows.reserveCapacity(shape.oodSamples)
            let style = kind == .nearID ? idStyle : semantic(&rng)
            switch kind {
            case .covered:
                let named: [(aligned: [Float], visual: [Float])] = (0..<conceptCount).map { _ in
                    let a = Self.combine([(1, negConcepts[pick(negConcepts.count, &rng)]),
                                          (P.coveredSpread, semantic(&rng)),
                                          (P.coveredIDSuper, supers[pick(superCount, &rng)])])
                    return (a, semantic(&rng))
                }
                for _ in 0..<shape.oodSamples {
                    let concept = named[pick(named.count, &rng)]
                    let aligned = Self.combine([(1, concept.aligned),
                                                (P.coveredIDObject * idObject(&rng), concepts[pick(c, &rng)])])
                    rows.append(image(aligned, concept.visual, style, &rng))
                }
            case .uncovered:
                let clusters = max(4, Int(Float(shape.oodSamples) / P.imagesPerCluster))
                let centres: [(aligned: [Float], visual: [Float])] = (0..<clusters).map { _ in
                    (mix(domain, P.uncoveredDomainMax * Float(rng.nextUnit()), semantic(&rng)), semantic(&rng))
                }
                for _ in 0..<shape.oodSamples {
                    let centre = centres[pick(clusters, &rng)]
                    let aligned = Self.combine([(1, centre.aligned), (P.uncoveredSpread, semantic(&rng)),
                                                (P.uncoveredIDObject * idObject(&rng), concepts[pick(c, &rng)])])
                    rows.append(image(aligned, centre.visual, style, &rng))
                }
            case .nearID:
                let near: [(aligned: [Float], visual: [Float])] = (0..<conceptCount).map { _ in
                    let label = pick(c, &rng)
                    let w = uniform(P.nearIDWeight, &rng)
                    return (mix(concepts[label], w, semantic(&rng)), mix(visuals[label], P.nearIDVisual, semantic(&rng)))
                }
                for _ in 0..<shape.oodSamples {
                    let concept = near[pick(near.count, &rng)]
                    rows.append(image(concept.aligned, concept.visual, style, &rng))
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
