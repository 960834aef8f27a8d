import Foundation
import Testing
@testable import NPY

/// float16 feature files are read the one way everywhere: `NPYRowReader` (jobs: the
/// coordinator's leases, workers, bank rebuilds) converts elements with the same
/// `DType.convert` as `NPYArray.floats()` (`score-features`), for every dtype the parser takes.
@Suite("NPY rows of every dtype")
struct Float16RowTests {
    @Test("NPYRowReader reads float16, float32, float64, int32 and int64 rows equal to floats()", arguments: [
        NPYArray.DType.float16, .float32, .float64, .int32, .int64,
    ])
    func rowsEqualFloats(dtype: NPYArray.DType) throws {
        let rows = 5, cols = 7
        let values: [Double] = (0..<(rows * cols)).map { (i: Int) -> Double in
            let a = Double(i % 11), b = Double(i % 3)
            return a - 4.5 * b + 0.125
        }
        var data = Data(count: values.count * dtype.byteWidth)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                switch dtype {
                case .float16: raw.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
                case .float32: raw.storeBytes(of: Float(v).bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                case .float64: raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
                case .int32: raw.storeBytes(of: Int32(v.rounded()).littleEndian, toByteOffset: i * 4, as: Int32.self)
                case .int64: raw.storeBytes(of: Int64(v.rounded()).littleEndian, toByteOffset: i * 8, as: Int64.self)
                }
            }
        }
        let array = NPYArray(shape: [rows, cols], dtype: dtype, data: data)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-rows-\(UUID().uuidString).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPYFile.write(array, to: path)
        let reader = try NPYRowReader(path: path)
        let all = try NPYFile.read(path).floats()
        #expect(all.count == rows * cols)
        for r in 0..<rows { #expect(reader.row(r) == Array(all[r * cols ..< (r + 1) * cols])) }
        #expect(reader.row(rows) == nil && reader.row(-1) == nil)
        if dtype == .float16 {
            // Exactly the float16 values, widened.
            #expect(all == values.map { Float(Float16($0)) })
        }
    }
}
