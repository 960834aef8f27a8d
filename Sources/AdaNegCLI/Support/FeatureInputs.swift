import AdaNeg
import Foundation
import Platform
import NPY
import Tensor

/// Loading and validating the `.npy` inputs of the scoring commands.
enum FeatureInputs {
    /// Reads a 2-D float matrix, rejects NaN/∞, and L2-normalises rows that are not unit
    /// length (with one warning saying how many were off).
    static func features(_ path: String, role: String, flag: String) throws -> Matrix {
        let array = try failing("\(role) (\(flag))") { try NPYFile.read(path) }
        guard array.shape.count == 2 else {
            throw CommandFailure("\(path): \(role) must be a 2-D array (rows × dimensions), found shape \(array.shape)")
        }
        let (rows, cols) = (array.shape[0], array.shape[1])
        guard rows > 0, cols > 0 else { throw CommandFailure("\(path): \(role) is empty (shape \(rows)×\(cols))") }
        var matrix = Matrix(rows: rows, cols: cols, storage: array.floats())
        if let (r, c) = matrix.firstNonFinite() {
            throw CommandFailure("\(path): \(role) row \(r), column \(c) is \(matrix[r, c]); features must be finite")
        }
        let off = matrix.normalizeRows()
        if off > 0 {
            StandardError.warn("\(path): \(off) of \(Plural.count(rows, "\(role) row")) \(Plural.noun(off, "was", "were")) not L2-normalised; normalised on read")
        }
        return matrix
    }

    /// Reads labels: ID class in `0..<numID`, or −1 for OOD; one per image row.
    static func labels(_ path: String, count: Int, numID: Int) throws -> [Int] {
        let labels = try failing("--labels") { try NPYFile.readIntegers(path) }
        guard labels.count == count else {
            throw CommandFailure("\(path): \(Plural.count(labels.count, "label")) for \(Plural.count(count, "image feature row"))")
        }
        if let i = labels.firstIndex(where: { $0 < -1 || $0 >= numID }) {
            throw CommandFailure("\(path): label \(i) is \(labels[i]); labels must be −1 (OOD) or an ID class in 0..<\(numID)")
        }
        return labels
    }

    static func permutation(_ path: String) throws -> [Int] {
        try failing("--perm") { try NPYFile.readIntegers(path) }
    }
}

/// The memory check of the synthetic-data commands (`demo`, `synthesize`).
enum SyntheticSize {
    static func check(_ shape: SyntheticBenchmark.Shape) throws {
        let available = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard let bytes = shape.byteCount, bytes <= available / 2 else {
            throw CommandFailure("the synthetic data (\(shape.classes + shape.negatives) labels and \(shape.idSamples) + 3 × \(shape.oodSamples) samples of \(shape.dimension) dimensions) would need \(shape.byteCount.map { MemoryEstimate.describe(bytes: $0) } ?? "more memory than can be counted"); this machine has \(MemoryEstimate.describe(bytes: available))")
        }
    }
}
