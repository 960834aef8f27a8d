/// A dense row-major matrix of `Float`.
///
/// Deliberately small: adaneg's math is a handful of matrix products and row-wise kernels,
/// so a plain value type over one contiguous `[Float]` keeps every hot loop a simple pointer
/// walk and lets BLAS read the storage without copies.
public struct Matrix: Sendable, Equatable {
    public private(set) var rows: Int
    public let cols: Int
    public var storage: [Float]

    // MARK: Creation

    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.cols = cols
        self.storage = [Float](repeating: value, count: rows * cols)
    }

    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(storage.count == rows * cols, "storage holds \(storage.count) values, \(rows)x\(cols) needs \(rows * cols)")
        self.rows = rows
        self.cols = cols
        self.storage = storage
    }

    /// Builds a matrix from equally long rows.
    public init(rowsOf values: [[Float]]) {
        let cols = values.first?.count ?? 0
        precondition(values.allSatisfy { $0.count == cols }, "rows differ in length")
        self.init(rows: values.count, cols: cols, storage: values.flatMap { $0 })
    }

    // MARK: Access

    @inlinable
    public subscript(row: Int, col: Int) -> Float {
        get { storage[row * cols + col] }
        set { storage[row * cols + col] = newValue }
    }

    /// A copy of one row.
    public func row(_ index: Int) -> [Float] {
        Array(storage[index * cols ..< (index + 1) * cols])
    }

    /// Overwrites one row with `values` (of length `cols`).
    public mutating func setRow(_ index: Int, _ values: [Float]) {
        precondition(values.count == cols && index >= 0 && index < rows, "row \(index) of \(values.count) values in a \(rows)×\(cols) matrix")
        storage.replaceSubrange(index * cols ..< (index + 1) * cols, with: values)
    }

    /// A copy of the rows in `range`.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols, storage: Array(storage[range.lowerBound * cols ..< range.upperBound * cols]))
    }

    /// A copy of the rows at `indices`, in that order.
    public func gatherRows(_ indices: [Int]) -> Matrix {
        var out = Matrix(rows: indices.count, cols: cols)
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for (i, r) in indices.enumerated() {
                    precondition(r >= 0 && r < rows, "row \(r) out of range 0..<\(rows)")
                    let from = src.baseAddress! + r * cols
                    (dst.baseAddress! + i * cols).update(from: from, count: cols)
                }
            }
        }
        return out
    }

    /// Appends one row; used by growing stores such as the memory-bank feature pool.
    public mutating func appendRow(_ values: UnsafeBufferPointer<Float>) {
        precondition(values.count == cols, "row has \(values.count) values, matrix has \(cols) columns")
        storage.append(contentsOf: values)
        rows += 1
    }

    /// The transpose, materialised.
    public func transposed() -> Matrix {
        var out = Matrix(rows: cols, cols: rows)
        for r in 0..<rows {
            for c in 0..<cols {
                out.storage[c * rows + r] = storage[r * cols + c]
            }
        }
        return out
    }
}
