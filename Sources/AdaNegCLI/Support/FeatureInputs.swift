import AdaNeg
import Foundation
import Platform
import NPY
import Tensor

/// Loading and validating the `.npy` inputs of the scoring commands.
enum FeatureInputs {
    /// Reads a 2-D float matrix, rejects NaN/∞, and L2-normalises rows that are not unit
    /// length (with one warning saying how many were off). For the label text features: one
    /// non-finite row would poison every sample's scores, so the whole input is refused.
    static func features(_ path: String, role: String, flag: String) throws -> Matrix {
        let (matrix, bad) = try read(path, role: role, flag: flag)
        if let r = bad.first, let c = (0..<matrix.cols).first(where: { !matrix[r, $0].isFinite }) {
            throw CommandFailure("\(path): \(role) row \(r), column \(c) is \(matrix[r, c]); features must be finite")
        }
        return try normalised(matrix, path: path, role: role)
    }

    /// Reads the image features to score: a row holding NaN or ±∞ is that sample's error, as
    /// in a job (named in one warning, zeroed, and returned in `nonFinite`), not the input's.
    static func samples(_ path: String, role: String, flag: String) throws -> (matrix: Matrix, nonFinite: [Int]) {
        var (matrix, bad) = try read(path, role: role, flag: flag)
        if let first = bad.first {
            let more = bad.count > 1 ? " (and \(Plural.count(bad.count - 1, "other row")))" : ""
            StandardError.warn("\(path): row \(first)\(more) of \(role) is not finite (NaN or ±∞); not scored: pred -1 and empty scores in the CSV, left out of the metrics")
            for r in bad { for c in 0..<matrix.cols { matrix[r, c] = 0 } }
        }
        return (try normalised(matrix, path: path, role: role), bad)
    }

    private static func read(_ path: String, role: String, flag: String) throws -> (Matrix, [Int]) {
        let array = try failing("\(role) (\(flag))") { try NPYFile.read(path) }
        guard array.shape.count == 2 else {
            throw CommandFailure("\(path): \(role) must be a 2-D array (rows × dimensions), found shape \(array.shape)")
        }
        let (rows, cols) = (array.shape[0], array.shape[1])
        guard rows > 0, cols > 0 else { throw CommandFailure("\(path): \(role) is empty (shape \(rows)×\(cols))") }
        let matrix = Matrix(rows: rows, cols: cols, storage: array.floats())
        let bad = matrix.firstNonFinite() == nil ? [] : (0..<rows).filter { r in !matrix.row(r).allSatisfy(\.isFinite) }
        return (matrix, bad)
    }

    private static func normalised(_ matrix: Matrix, path: String, role: String) throws -> Matrix {
        var matrix = matrix
        let off = matrix.normalizeRows()
        if off > 0 {
            StandardError.warn("\(path): \(off) of \(Plural.count(matrix.rows, "\(role) row")) \(Plural.noun(off, "was", "were")) not L2-normalised; normalised on read")
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
