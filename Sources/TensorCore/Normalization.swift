extension Matrix {
    /// Scales every row to unit L2 norm. Returns how many rows were off by more than
    /// `tolerance` (in norm) before scaling, so readers can warn about unnormalised input.
    /// Zero rows stay zero.
    @discardableResult
    public mutating func normalizeRows(tolerance: Float = 1e-3) -> Int {
        var off = 0
        let cols = self.cols
        storage.withUnsafeMutableBufferPointer { buf in
            for r in 0..<rows {
                let norm = UnitNorm.normalize(UnsafeMutableBufferPointer(rebasing: buf[r * cols ..< (r + 1) * cols]))
                if abs(norm - 1) > tolerance { off += 1 }
            }
        }
        return off
    }

    /// A copy with unit-norm rows.
    public func rowNormalized() -> Matrix {
        var copy = self
        copy.normalizeRows()
        return copy
    }

    /// True when any value is NaN or infinite; returns the first offending (row, column).
    public func firstNonFinite() -> (row: Int, col: Int)? {
        for (i, v) in storage.enumerated() where !v.isFinite {
            return (i / Swift.max(cols, 1), i % Swift.max(cols, 1))
        }
        return nil
    }
}

/// Scaling to unit L2 norm, the one way: every place that normalises a feature (workers, the
/// coordinator reloading a bank, the sequential re-score) goes through here, so the same input
/// gives the same bits everywhere.
public enum UnitNorm {
    /// Scales `row` to unit L2 norm in place and returns the norm it had. A zero row stays zero.
    @discardableResult
    public static func normalize(_ row: UnsafeMutableBufferPointer<Float>) -> Float {
        let norm = RowKernels.squaredNorm(UnsafeBufferPointer(row)).squareRoot()
        guard norm > 0 else { return norm }
        let inv = 1 / norm
        for i in row.indices { row[i] *= inv }
        return norm
    }

    /// Scales `vector` to unit L2 norm in place and returns the norm it had.
    @discardableResult
    public static func normalize(_ vector: inout [Float]) -> Float {
        vector.withUnsafeMutableBufferPointer { normalize($0) }
    }
}

/// Indices of the `k` largest values, largest first (ties: lower index first).
public func topK(_ values: [Float], _ k: Int) -> [Int] {
    let k = min(k, values.count)
    guard k > 0 else { return [] }
    return values.indices.sorted { (values[$0], -$0) > (values[$1], -$1) }.prefix(k).map { $0 }
}
