import Foundation
import NPY
import Tensor

/// Rows of a precomputed feature file, read on demand from a memory-mapped `.npy`.
final class FeatureSource: @unchecked Sendable {
    let path: String
    let rows: Int
    let cols: Int
    private let array: NPYArray

    init(path: String) throws {
        array = try NPYFile.read(path)
        guard array.shape.count == 2 else { throw WorkerError.input("\(path): expected a 2-D feature array, found shape \(array.shape)") }
        guard array.dtype == .float32 || array.dtype == .float64 else {
            throw WorkerError.input("\(path): features must be float32 or float64, found \(array.dtype.rawValue)")
        }
        self.path = path
        rows = array.shape[0]
        cols = array.shape[1]
    }

    /// Copies row `index` into `out` (length `cols`).
    func copyRow(_ index: Int, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard index >= 0, index < rows else { throw WorkerError.input("\(path): row \(index) out of range 0..<\(rows)") }
        array.data.withUnsafeBytes { raw in
            switch array.dtype {
            case .float64:
                for c in 0..<cols {
                    out[c] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: (index * cols + c) * 8, as: UInt64.self))))
                }
            default:
                for c in 0..<cols {
                    out[c] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: (index * cols + c) * 4, as: UInt32.self)))
                }
            }
        }
    }
}

public enum WorkerError: Error, CustomStringConvertible {
    case input(String)
    case plan(String)

    public var description: String {
        switch self {
        case let .input(m): "input: \(m)"
        case let .plan(m): "plan: \(m)"
        }
    }
}
