import NPY
import Tensor

/// The rows of a plan's feature files as every reader needs them — the worker scoring a unit,
/// the coordinator rebuilding a bank, the sequential re-score: read on demand from the
/// memory-mapped file and normalised once by `UnitNorm`, so all three see the same bits.
/// One reader per file, opened on first use.
public final class FeatureFileRows {
    private var readers: [String: NPYRowReader] = [:]

    public init() {}

    /// The file's reader (for its shape), opened once.
    public func reader(_ path: String) throws(NPYError) -> NPYRowReader {
        if let reader = readers[path] { return reader }
        let reader = try NPYRowReader(path: path)
        readers[path] = reader
        return reader
    }

    /// Row `item` of `path`, normalised; nil when the file has no such row.
    public func normalizedRow(_ path: String, item: Int) throws(NPYError) -> [Float]? {
        guard var row = try reader(path).row(item) else { return nil }
        UnitNorm.normalize(&row)
        return row
    }

    /// Copies row `item` of `path`, normalised, into `out` (the file's width); false when the
    /// file has no such row.
    public func copyNormalizedRow(_ path: String, item: Int, into out: UnsafeMutableBufferPointer<Float>) throws(NPYError) -> Bool {
        guard try reader(path).copyRow(item, into: out) else { return false }
        UnitNorm.normalize(out)
        return true
    }
}
