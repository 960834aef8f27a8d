/// Convenience for the 2-D float32 matrices that adaneg's commands exchange.
extension NPYFile {
    /// Reads a 1-D or 2-D array as a row-major float matrix.
    public static func readMatrix(_ path: String) throws(NPYError) -> (rows: Int, cols: Int, values: [Float]) {
        let array = try read(path)
        guard let shape = array.matrixShape else { throw .unsupportedRank(path: path, shape: array.shape) }
        return (shape.rows, shape.cols, array.floats())
    }

    /// Reads a 1-D array, or a 2-D array with one row or one column, as integers.
    public static func readIntegers(_ path: String) throws(NPYError) -> [Int] {
        let array = try read(path)
        guard array.shape.count == 1 || (array.shape.count == 2 && (array.shape[0] == 1 || array.shape[1] == 1)) else {
            throw .notAVector(path: path, shape: array.shape)
        }
        do {
            return try array.integers()
        } catch let NPYError.notIntegral(index, value) {
            throw .nonIntegerValue(path: path, index: index, value: value)
        } catch {
            throw error
        }
    }

    /// Writes a row-major float matrix as 2-D float32.
    public static func writeMatrix(_ values: [Float], rows: Int, cols: Int, to path: String) throws(NPYError) {
        try write(.float32(values, shape: [rows, cols]), to: path)
    }
}
