import JobProtocol
import AdaNegCore
import NPY
import TensorCore

/// The scorer's inputs a plan names, read the one way every scorer of the job reads them (a
/// worker, the sequential re-score).
extension WorkPlan {
    /// The label text features, rows normalised.
    public func loadTextFeatures() throws(NPYError) -> Matrix {
        let (rows, cols, values) = try NPYFile.readMatrix(textFeatures)
        var m = Matrix(rows: rows, cols: cols, storage: values)
        m.normalizeRows()
        return m
    }

    /// The negatives' order as the label space takes it: a permutation file is read here.
    public func loadPermutation() throws(NPYError) -> PermutationSource {
        if case let .file(path) = permutation { return .given(try NPYFile.readIntegers(path)) }
        return permutation
    }

    /// Checks the text features and a permutation file against the digests recorded at
    /// submission (hashing each once per process): for readers of the plan's own paths (the
    /// sequential re-score, a worker without an artefact cache). A path not recorded (an older
    /// plan, or a worker's verified cached copy) is not checked.
    public func verifyScorerInputs() throws(InputFileError) {
        var files = [(path: String, digest: ArtefactDigest)]()
        if let digest = recordedDigest(of: textFeatures) { files.append((textFeatures, digest)) }
        if case let .file(path) = permutation, let digest = recordedDigest(of: path) { files.append((path, digest)) }
        try InputDigests.shared.verifyNow(files)
    }
}
