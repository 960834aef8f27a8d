/// How full a memory bank is: label rows holding at least one cached feature, ID rows and
/// negative rows apart. The report plots it over the stream.
public struct BankOccupancy: Codable, Sendable, Equatable {
    public var idRows: Int
    public var negativeRows: Int

    public init(idRows: Int, negativeRows: Int) {
        self.idRows = idRows
        self.negativeRows = negativeRows
    }
}

extension MemoryBank {
    /// Occupancy with the first `numID` rows counted as ID rows (bank rows are in the caller's
    /// label order: ID classes first).
    public func occupancy(numID: Int) -> BankOccupancy {
        counts.withUnsafeBufferPointer { c in
            var id = 0, negative = 0
            for row in 0..<c.count where c[row] > 0 {
                if row < numID { id += 1 } else { negative += 1 }
            }
            return BankOccupancy(idRows: id, negativeRows: negative)
        }
    }
}
