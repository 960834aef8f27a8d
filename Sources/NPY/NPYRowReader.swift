import Foundation

/// Rows of a 2-D float `.npy` file, read on demand from the memory-mapped file: workers pick
/// the rows of their unit, the coordinator the rows behind its bank entries, and neither loads
/// a whole feature file.
public final class NPYRowReader: @unchecked Sendable {
    public let path: String
    public let rows: Int
    public let cols: Int
    private let array: NPYArray

    public init(path: String) throws(NPYError) {
        array = try NPYFile.read(path)
        guard array.shape.count == 2 else { throw .unsupportedRank(path: path, shape: array.shape) }
        // Every dtype the reader parses is converted by `DType.convert`, the conversion
        // `score-features` reads through: float16 feature files score in jobs as they do there.
        self.path = path
        rows = array.shape[0]
        cols = array.shape[1]
    }

    /// Copies row `index` into `out` (length `cols`); false if the row does not exist.
    @discardableResult
    public func copyRow(_ index: Int, into out: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard index >= 0, index < rows, out.count >= cols else { return false }
        let row = UnsafeMutableBufferPointer(rebasing: out[0..<cols])
        array.data.withUnsafeBytes { raw in array.dtype.convert(raw, first: index * cols, into: row) }
        return true
    }

    /// Row `index` as little-endian float32 bytes into `out` (`cols × 4` bytes): a float32
    /// file's bytes are copied as they are (one `memcpy`, no conversion per value); other types
    /// go through `DType.convert`, as `copyRow` does. False if the row does not exist.
    /// The coordinator serves a leased unit's rows this way (`GET /v1/units/{unit}/rows`).
    @discardableResult
    public func copyRowBytes(_ index: Int, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard index >= 0, index < rows, out.count >= cols * 4 else { return false }
        if array.dtype == .float32 {
            array.data.withUnsafeBytes { raw in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[index * cols * 4 ..< (index + 1) * cols * 4]))
            }
            return true
        }
        var row = [Float](repeating: 0, count: cols)
        row.withUnsafeMutableBufferPointer { buffer in
            array.data.withUnsafeBytes { raw in array.dtype.convert(raw, first: index * cols, into: buffer) }
        }
        for (i, v) in row.enumerated() { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        return true
    }

    /// Row `index` as a new array, or nil if it does not exist.
    public func row(_ index: Int) -> [Float]? {
        var out = [Float](repeating: 0, count: cols)
        let ok = out.withUnsafeMutableBufferPointer { copyRow(index, into: $0) }
        return ok ? out : nil
    }
}
