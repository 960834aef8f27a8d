import Foundation
import Tensor

/// CLIP-like features for demos, tests and benchmarks, deterministic from a seed.
/// (Doc comment to be written once the model is tuned.)
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

    static func knob(_ name: String, _ value: Float) -> Float {
        if let s = ProcessInfo.processInfo.environment["SYN_" + name], let v = Float(s) { return v }
        return value
    }

    public init(shape: Shape, seed: UInt64) {
        precondition(shape.classes > 0 && shape.negatives > 0 && shape.dimension >= 8)
        self.shape = shape
        self.seed = seed
        let k = Self.knob
        let rho = k("RHO", 0.35)            // cos(image mean direction, text mean direction)
        let textShared = k("TSH", 0.7)      // share of a text feature's energy on the text direction
        let textNoise = k("TNOISE", 0.3)    // prompt noise around a label's concept
        let imageShared = k("ISH", 0.35)    // image energy: image direction
        let alignedShare = k("ALI", 0.2)    //   text-aligned content
        let visualShare = k("VIS", 0.3)     //   visual-only content (rest: nuisance)
        let styleShare = k("STYLE", 0.1)   //   the data set's visual style
        let groupSize = k("GROUP", 10)      // ID classes per superclass
        let domainW = k("DOM", 0.3)         // weight² of the shared ID domain direction in a superclass
        let superW = k("SUP", 0.45)         // weight² of the superclass direction in a class concept
        let negDomainMax = k("NEGDOM", 0.3) // negative superclasses: weight² on the ID domain, uniform in [0, this]
        let oversample = k("OVER", 2)       // NegMining: candidates per kept negative label
        let sigmaC = k("SIGC", 0.8)         // per-image noise of the text-aligned content
        let sigmaV = k("SIGV", 0.7)         // per-image noise of the visual content
        let ambShare = k("AMB", 0.3)        // share of ambiguous ID images
        let ambLo = k("AMBLO", 0.3), ambHi = k("AMBHI", 1.0)
        let perConcept = k("PERC", 30)      // OOD images per OOD concept (covered, near-ID)
        let covSpread = k("COVSP", 0.5)     // covered: concept spread around its negative label
        let covID = k("COVID", 0.5)         // covered: pull towards an ID superclass
        let covPull = k("COVPULL", 0.8)     // per-image pull towards one ID class (an ID-like object in view)
        let uncPull = k("UNCPULL", 0.8)
        let uncDomain = k("UNCDOM", 0.3)
        let pullShare = k("PULLP", 0.35)
        let clusterSize = k("CLSIZE", 60)
        let uncSpread = k("UNCSP", 0.4)
        let uncID = k("UNCID", 0.6)         // uncovered centres: pull towards an ID superclass
        let nearLo = k("NEARLO", 0.3), nearHi = k("NEARHI", 0.55)
        let nearVis = k("NEARVIS", 0.4)

        var rng = SplitMix64(seed: seed)
        let d = shape.dimension
        let textAxis = Self.randomUnit(d, &rng)
        let gapAxis = Self.orthogonalize(Self.randomUnit(d, &rng), against: textAxis)
        let imageAxis = Self.combine([(rho, textAxis), ((1 - rho * rho).squareRoot(), gapAxis)])
        let semDim = min(d, Int(k("SEMDIM", 96)))
        func semantic(_ rng: inout SplitMix64) -> [Float] {
            var v = [Float](repeating: 0, count: d)
            for i in 0..<semDim { v[i] = Float(rng.nextGaussian()) }
            return Self.orthogonalize(Self.orthogonalize(Self.normalize(v), against: textAxis), against: gapAxis)
        }
        func mix(_ a: [Float], _ wa: Float, _ b: [Float]) -> [Float] {
            Self.combine([(wa.squareRoot(), a), ((1 - wa).squareRoot(), b)])
        }
        func textFeature(_ concept: [Float], _ rng: inout SplitMix64) -> [Float] {
            let c = Self.combine([(1, concept), (textNoise, semantic(&rng))])
            return Self.combine([(textShared.squareRoot(), textAxis), ((1 - textShared).squareRoot(), c)])
        }
        /// An image of a concept: `aligned` is what text can name, `visual` what only images share.
        func image(_ aligned: [Float], _ visual: [Float], _ style: [Float], _ rng: inout SplitMix64) -> [Float] {
            let u = Float(0.7 + 0.6 * rng.nextUnit())
            let xc = Self.combine([(1, aligned), (sigmaC * u, semantic(&rng))])
            let xv = Self.combine([(1, visual), (sigmaV * u, semantic(&rng))])
            return Self.combine([(imageShared.squareRoot(), imageAxis), (alignedShare.squareRoot(), xc),
                                 (visualShare.squareRoot(), xv), (styleShare.squareRoot(), style),
                                 (max(0, 1 - imageShared - alignedShare - visualShare - styleShare).squareRoot(), semantic(&rng))])
        }

        // ID hierarchy: domain → superclasses → classes, for the text-aligned and the visual content.
        let c = shape.classes
        let domain = semantic(&rng)
        let superCount = max(1, Int((Float(c) / groupSize).rounded()))
        let supers = (0..<superCount).map { _ in mix(domain, domainW, semantic(&rng)) }
        let superVisual = (0..<superCount).map { _ in semantic(&rng) }
        let superOf = (0..<c).map { $0 * superCount / c }
        let concepts = (0..<c).map { mix(supers[superOf[$0]], superW, semantic(&rng)) }
        let visuals = (0..<c).map { mix(superVisual[superOf[$0]], superW, semantic(&rng)) }
        var textRows = concepts.map { textFeature($0, &rng) }
        let idStyle = semantic(&rng)

        // Negative labels: candidates in their own superclasses, NegMining keeps those farthest from ID.
        let candidates = max(shape.negatives, Int(Float(shape.negatives) * oversample))
        let negSuperCount = max(1, Int((Float(candidates) / groupSize).rounded()))
        let negSupers = (0..<negSuperCount).map { _ in mix(domain, negDomainMax * Float(rng.nextUnit()), semantic(&rng)) }
        let candConcepts = (0..<candidates).map { mix(negSupers[$0 * negSuperCount / candidates], superW, semantic(&rng)) }
        let candText = candConcepts.map { textFeature($0, &rng) }
        let idText = Matrix(rowsOf: textRows)
        let sims = BLAS.matmulTransposed(Matrix(rowsOf: candText), idText)
        let pct = min(c - 1, Int(0.95 * Double(c)))
        let eta: [Float] = (0..<candidates).map { j in
            var row = sims.row(j)
            row.sort()
            return row[pct]
        }
        let kept = (0..<candidates).sorted { eta[$0] < eta[$1] || (eta[$0] == eta[$1] && $0 < $1) }.prefix(shape.negatives)
        let negConcepts = kept.map { candConcepts[$0] }
        textRows += kept.map { candText[$0] }
        self.text = Matrix(rowsOf: textRows)

        // ID images.
        var idRows = [[Float]]()
        var idLabels = [Int]()
        for _ in 0..<shape.idSamples {
            let label = Int(rng.next(upperBound: UInt64(c)))
            var aligned = concepts[label], visual = visuals[label]
            if rng.nextUnit() < Double(ambShare) {
                let other: Int
                if rng.nextUnit() < 0.7 {
                    let s = superOf[label]
                    let lo = (0..<c).first { superOf[$0] == s }!
                    let hi = (0..<c).last { superOf[$0] == s }!
                    other = lo + Int(rng.next(upperBound: UInt64(hi - lo + 1)))
                } else {
                    other = Int(rng.next(upperBound: UInt64(c)))
                }
                let w = ambLo + (ambHi - ambLo) * Float(rng.nextUnit())
                aligned = Self.combine([(1, aligned), (w, concepts[other])])
                visual = Self.combine([(1, visual), (w, visuals[other])])
            }
            idRows.append(image(aligned, visual, idStyle, &rng))
            idLabels.append(label)
        }
        self.idFeatures = Matrix(rowsOf: idRows)
        self.idLabels = idLabels

        /// How much of an ID class an OOD image shows: nothing for most, a share of them show one.
        func idLike(_ rng: inout SplitMix64) -> Float {
            rng.nextUnit() < Double(pullShare) ? 0.25 + 0.75 * Float(rng.nextUnit()) : 0
        }
        func pick(_ n: Int, _ rng: inout SplitMix64) -> Int { Int(rng.next(upperBound: UInt64(n))) }
        var sets = [(kind: OODKind, features: Matrix)]()
        let oodConcepts = max(4, Int(Float(shape.oodSamples) / perConcept))
        for kind in OODKind.allCases {
            var rows = [[Float]]()
            let style = kind == .nearID ? idStyle : semantic(&rng)
            switch kind {
            case .covered:
                let named: [([Float], [Float])] = (0..<oodConcepts).map { _ in
                    let a = Self.combine([(1, negConcepts[pick(negConcepts.count, &rng)]), (covSpread, semantic(&rng)),
                                          (covID, supers[pick(superCount, &rng)])])
                    return (a, semantic(&rng))
                }
                for _ in 0..<shape.oodSamples {
                    let (a, v) = named[pick(named.count, &rng)]
                    let aligned = Self.combine([(1, a), (covPull * idLike(&rng), concepts[pick(c, &rng)])])
                    rows.append(image(aligned, v, style, &rng))
                }
            case .uncovered:
                let clusters = max(4, Int(Float(shape.oodSamples) / clusterSize))
                let centres: [([Float], [Float])] = (0..<clusters).map { _ in
                    (mix(domain, uncDomain * Float(rng.nextUnit()), Self.combine([(1, semantic(&rng)), (uncID, supers[pick(superCount, &rng)])])), semantic(&rng))
                }
                for _ in 0..<shape.oodSamples {
                    let (a, v) = centres[pick(clusters, &rng)]
                    let aligned = Self.combine([(1, a), (uncSpread, semantic(&rng)), (uncPull * idLike(&rng), concepts[pick(c, &rng)])])
                    rows.append(image(aligned, v, style, &rng))
                }
            case .nearID:
                let near: [([Float], [Float])] = (0..<oodConcepts).map { _ in
                    let label = pick(c, &rng)
                    let q = nearLo + (nearHi - nearLo) * Float(rng.nextUnit())
                    return (mix(concepts[label], q, semantic(&rng)), mix(visuals[label], nearVis, semantic(&rng)))
                }
                for _ in 0..<shape.oodSamples {
                    let (a, v) = near[pick(near.count, &rng)]
                    rows.append(image(a, v, style, &rng))
                }
            }
            sets.append((kind, Matrix(rowsOf: rows)))
        }
        self.oodSets = sets
        if ProcessInfo.processInfo.environment["SYN_STATS"] != nil { printStats() }
    }

    func printStats() {
        let c = shape.classes
        let idText = text.rows(0..<c)
        let tt = BLAS.matmulTransposed(idText, text)
        var idid = 0.0, idneg = 0.0
        for i in 0..<c {
            for j in 0..<text.rows where j != i {
                if j < c { idid += Double(tt[i, j]) } else { idneg += Double(tt[i, j]) }
            }
        }
        let negText = text.rows(c..<text.rows)
        let nn = BLAS.matmulTransposed(negText.rows(0..<min(500, negText.rows)), negText)
        let negneg = nn.storage.reduce(0.0) { $0 + Double($1) } / Double(nn.storage.count)
        print(String(format: "text cos: ID-ID %.3f  ID-neg %.3f  neg-neg %.3f", idid / Double(c * (c - 1)),
                     idneg / Double(c * (text.rows - c)), negneg))
        let it = BLAS.matmulTransposed(idFeatures, idText)
        var right = 0.0, other = 0.0, correct = 0
        for i in 0..<idFeatures.rows {
            let row = it.row(i)
            right += Double(row[idLabels[i]])
            other += (Double(row.reduce(0, +)) - Double(row[idLabels[i]])) / Double(c - 1)
            if row.indices.max(by: { row[$0] < row[$1] }) == idLabels[i] { correct += 1 }
        }
        let n = Double(idFeatures.rows)
        let ii = BLAS.matmulTransposed(idFeatures.rows(0..<min(300, idFeatures.rows)), idFeatures)
        print(String(format: "image-text cos: right %.3f  other %.3f; image-image %.3f; zero-shot top-1 %.1f%%",
                     right / n, other / n, ii.storage.reduce(0.0) { $0 + Double($1) } / Double(ii.storage.count),
                     100 * Double(correct) / n))
        for (kind, f) in oodSets {
            let z = BLAS.matmulTransposed(f, text)
            var maxID = 0.0, maxNeg = 0.0
            for i in 0..<f.rows {
                let row = z.row(i)
                maxID += Double(row[0..<c].max()!)
                maxNeg += Double(row[c...].max()!)
            }
            print(String(format: "%@: max ID cos %.3f, max neg cos %.3f", kind.rawValue, maxID / Double(f.rows), maxNeg / Double(f.rows)))
        }
        let zi = BLAS.matmulTransposed(idFeatures, text)
        var maxID = 0.0, maxNeg = 0.0
        for i in 0..<idFeatures.rows {
            let row = zi.row(i)
            maxID += Double(row[0..<c].max()!)
            maxNeg += Double(row[c...].max()!)
        }
        print(String(format: "ID: max ID cos %.3f, max neg cos %.3f", maxID / n, maxNeg / n))
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
