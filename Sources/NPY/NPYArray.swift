import Foundation

/// An array read from or written to NumPy's `.npy` format (version 1.0–3.0).
///
/// adaneg exchanges features, labels and permutations with Python tooling through `.npy`
/// files, so the reader accepts what NumPy commonly writes (little-endian float32, float64,
/// float16, int64, int32, C order, 1-D or 2-D) and converts to the one element type a caller asks for.
/// The writer always produces float32 (or int64), little-endian, C order.
public struct NPYArray: Sendable, Equatable {
    /// The element type stored in a file.
    public enum DType: String, Sendable {
        case float32 = "<f4"
        case float64 = "<f8"
        case float16 = "<f2"
        case int64 = "<i8"
        case int32 = "<i4"

        public var byteWidth: Int {
            switch self {
            case .float16: 2
            case .float32, .int32: 4
            case .float64, .int64: 8
            }
        }

        /// Converts `out.count` elements of this type, starting at element `first` of `raw`, to
        /// `Float`: the one element conversion of every reader (`floats()` for whole arrays,
        /// `NPYRowReader` for rows), so a file that one reader takes every reader takes, with the
        /// same values. The caller guarantees the elements lie inside `raw`.
        public func convert(_ raw: UnsafeRawBufferPointer, first: Int, into out: UnsafeMutableBufferPointer<Float>) {
            let base = first * byteWidth
            switch self {
            case .float32:
                for i in out.indices { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * 4, as: UInt32.self))) }
            case .float64:
                for i in out.indices { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * 8, as: UInt64.self)))) }
            case .float16:
                for i in out.indices { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * 2, as: UInt16.self)))) }
            case .int64:
                for i in out.indices { out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * 8, as: Int64.self))) }
            case .int32:
                for i in out.indices { out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: base + i * 4, as: Int32.self))) }
            }
        }
    }

    public var shape: [Int]
    public var dtype: DType
    /// The raw little-endian element bytes, C order.
    public var data: Data

    public init(shape: [Int], dtype: DType, data: Data) {
        self.shape = shape
        self.dtype = dtype
        self.data = data
    }

    public var count: Int { shape.reduce(1, *) }

    /// The bytes of data a header's `shape` and `dtype` promise, or nil when the element count
    /// or the byte count does not fit in `Int`. Headers come from outside, so a shape such as
    /// `(2**62, 2**62)` must be refused as a malformed header instead of trapping on overflow
    /// before the truncation check can even run.
    public static func byteCount(shape: [Int], dtype: DType) -> Int? {
        var total = dtype.byteWidth
        for n in shape {
            guard n >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: n)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// Rows and columns, treating a 1-D array as one column.
    public var matrixShape: (rows: Int, cols: Int)? {
        switch shape.count {
        case 1: (shape[0], 1)
        case 2: (shape[0], shape[1])
        default: nil
        }
    }
}

// MARK: - Element conversion

extension NPYArray {
    /// The elements as `Float`, converted from the stored type.
    public func floats() -> [Float] {
        let n = count
        var out = [Float](repeating: 0, count: n)
        data.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dtype.convert(raw, first: 0, into: $0) }
        }
        return out
    }

    /// The elements as integers. Floating-point elements must hold whole numbers; the first
    /// one that does not is reported by its flat index.
    public func integers() throws(NPYError) -> [Int] {
        switch dtype {
        case .int64:
            return data.withUnsafeBytes { raw in
                (0..<count).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            }
        case .int32:
            return data.withUnsafeBytes { raw in
                (0..<count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            }
        case .float16, .float32, .float64:
            let values = floats()
            var out = [Int]()
            out.reserveCapacity(values.count)
            for (i, v) in values.enumerated() {
                guard v.isFinite, v.rounded() == v, abs(v) < 1e9 else { throw .notIntegral(index: i, value: Double(v)) }
                out.append(Int(v))
            }
            return out
        }
    }

    /// A float32 array of the given shape.
    public static func float32(_ values: [Float], shape: [Int]) -> NPYArray {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        var data = Data(count: values.count * 4)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
            }
        }
        return NPYArray(shape: shape, dtype: .float32, data: data)
    }

    /// An int64 array of the given shape.
    public static func int64(_ values: [Int], shape: [Int]) -> NPYArray {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        var data = Data(count: values.count * 8)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: Int64(v).littleEndian, toByteOffset: i * 8, as: Int64.self)
            }
        }
        return NPYArray(shape: shape, dtype: .int64, data: data)
    }
}
