import Platform

/// Why a `.npy` file could not be read or written. Messages name the file so a user with
/// several inputs knows which one to fix.
public enum NPYError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    /// Missing, or not a regular file (a FIFO, a device, a socket, a folder): refused before
    /// it is opened.
    case notAFile(RegularFileError)
    case badMagic(path: String)
    case unsupportedVersion(path: String, major: UInt8)
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    case malformedHeader(path: String, reason: String)
    case unsupportedDType(path: String, descr: String)
    case fortranOrder(path: String)
    case unsupportedRank(path: String, shape: [Int])
    /// A file of integers (labels, a permutation) that is not one vector.
    case notAVector(path: String, shape: [Int])
    case notIntegral(index: Int, value: Double)
    /// A feature row holding NaN or ±∞: the sample's error, never a value to score.
    case nonFiniteRow(path: String, row: Int)
    case nonIntegerValue(path: String, index: Int, value: Double)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): cannot read: \(reason)"
        case let .notAFile(error): error.description
        case let .badMagic(path): "\(path): not a .npy file (the magic string \\x93NUMPY is missing)"
        case let .unsupportedVersion(path, major): "\(path): .npy format version \(major) is not supported (1, 2 and 3 are)"
        case let .truncated(path, expected, found): "\(path): truncated: the header promises \(expected) bytes of data, the file has \(found)"
        case let .malformedHeader(path, reason): "\(path): malformed .npy header: \(reason)"
        case let .unsupportedDType(path, descr): "\(path): dtype '\(descr)' is not supported (use little-endian float32, float64, float16, int64 or int32)"
        case let .fortranOrder(path): "\(path): Fortran-ordered arrays are not supported; save with np.ascontiguousarray"
        case let .unsupportedRank(path, shape): "\(path): expected a 1-D or 2-D array, found shape \(shape)"
        case let .notAVector(path, shape): "\(path): expected one integer per entry (shape (N,), (N, 1) or (1, N)), found shape \(shape)"
        case let .notIntegral(index, value): "element \(index) is \(value), not an integer"
        case let .nonFiniteRow(path, row): "row \(row) of \(path) is not finite (NaN or ±∞)"
        case let .nonIntegerValue(path, index, value): "\(path): element \(index) is \(value), not an integer"
        case let .unwritable(path, reason): "\(path): cannot write: \(reason)"
        }
    }
}
