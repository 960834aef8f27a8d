import Tensor

/// The C + M labels of a task, reordered once so that every group of the grouped score is a
/// contiguous run of columns.
///
/// Internal column order: the C ID labels; then the M' kept negatives in permutation order
/// (group g is columns C + g·K ..< C + (g+1)·K with K = M'/G); then the `M mod G` dropped
/// negatives. Bank rows and outputs stay in the caller's (original) label order.
public struct LabelSpace: Sendable {
    public let numID: Int
    public let numNegatives: Int
    public let groups: Int
    /// M' = M − M mod G.
    public let keptNegatives: Int
    /// K = M' / G.
    public let groupSize: Int
    public let dimension: Int
    /// Text features in internal column order.
    public let internalText: Matrix
    /// `originalLabel[c]`: the caller's label index of internal column c.
    public let originalLabel: [Int]
    /// `internalColumn[label]`: inverse of `originalLabel`.
    public let internalColumn: [Int]

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case numIDOutOfRange(numID: Int, labels: Int)
        case tooFewNegatives(negatives: Int, groups: Int)
        case permutation(NegativePermutation.Problem)
        /// A `.file` source reached the label space unread (a caller skipped `loadPermutation`).
        case permutationNotRead(file: String)

        public var description: String {
            switch self {
            case let .numIDOutOfRange(numID, labels):
                "--num-id is \(numID) but the text features have \(labels) rows; it must be between 1 and \(labels - 1)"
            case let .tooFewNegatives(negatives, groups):
                "\(negatives) negative labels cannot form \(groups) non-empty groups"
            case let .permutation(problem):
                "negative permutation: \(problem)"
            case let .permutationNotRead(file):
                "negative permutation: \(file) was not read before scoring"
            }
        }
    }

    public init(text: Matrix, numID: Int, groups: Int, permutation: PermutationSource) throws(Problem) {
        guard numID >= 1, numID < text.rows else { throw .numIDOutOfRange(numID: numID, labels: text.rows) }
        let m = text.rows - numID
        let kept = m - m % groups
        guard groups >= 1, kept >= groups else { throw .tooFewNegatives(negatives: m, groups: groups) }
        let perm: NegativePermutation
        switch permutation {
        case .none: perm = .identity(count: kept)
        case let .seed(seed): perm = .seeded(seed, count: kept)
        case let .given(indices):
            do { perm = try NegativePermutation(indices: indices, expectedCount: kept) } catch { throw .permutation(error) }
        case let .file(path): throw .permutationNotRead(file: path)
        }
        var order = Array(0..<numID)
        order += perm.indices.map { numID + $0 }
        order += Array((numID + kept)..<text.rows)
        var inverse = [Int](repeating: 0, count: text.rows)
        for (c, label) in order.enumerated() { inverse[label] = c }
        self.numID = numID
        self.numNegatives = m
        self.groups = groups
        self.keptNegatives = kept
        self.groupSize = kept / groups
        self.dimension = text.cols
        self.internalText = text.gatherRows(order)
        self.originalLabel = order
        self.internalColumn = inverse
    }

    public var labelCount: Int { numID + numNegatives }
}
