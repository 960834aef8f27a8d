import Foundation
import Testing
@testable import NPY

@Suite("NPY")
struct NPYTests {
    func temp(_ name: String) -> String {
        NSTemporaryDirectory() + "adaneg-npy-\(UUID().uuidString)-\(name)"
    }

    /// The exact bytes `np.save` writes for `np.arange(6, dtype='<f4').reshape(2, 3)`.
    func numpyBytes(descr: String = "<f4", fortran: String = "False", shape: String = "(2, 3)", payload: Data? = nil) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)])
        d.append(Data(header.utf8))
        d.append(payload ?? NPYArray.float32([0, 1, 2, 3, 4, 5], shape: [6]).data)
        return d
    }

    @Test("reads what NumPy writes")
    func readsNumpy() throws {
        let a = try NPYFile.parse(numpyBytes(), path: "x.npy")
        #expect(a.shape == [2, 3])
        #expect(a.floats() == [0, 1, 2, 3, 4, 5])
    }

    @Test("float32 and int64 round-trip through a file; header is 64-byte aligned")
    func roundTrip() throws {
        let path = temp("a.npy")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPYFile.writeMatrix([1.5, -2, 3.25, 4, 5, 6], rows: 3, cols: 2, to: path)
        let (rows, cols, values) = try NPYFile.readMatrix(path)
        #expect(rows == 3 && cols == 2 && values == [1.5, -2, 3.25, 4, 5, 6])
        #expect((NPYFile.encode(.float32([1], shape: [1, 1])).count - 4) % 64 == 0)
        try NPYFile.write(.int64([4, -1, 7], shape: [3]), to: path)
        #expect(try NPYFile.readIntegers(path) == [4, -1, 7])
    }

    @Test("float64 and float-coded integer indices convert")
    func conversions() throws {
        var payload = Data()
        for v in [0.5, 2.0] { withUnsafeBytes(of: v.bitPattern.littleEndian) { payload.append(contentsOf: $0) } }
        let a = try NPYFile.parse(numpyBytes(descr: "<f8", shape: "(2,)", payload: payload), path: "d.npy")
        #expect(a.floats() == [0.5, 2])
        let ints = try NPYFile.parse(numpyBytes(shape: "(3,)", payload: NPYArray.float32([2, 0, 1], shape: [3]).data), path: "p.npy")
        #expect(try ints.integers() == [2, 0, 1])
        let bad = try NPYFile.parse(numpyBytes(shape: "(2,)", payload: NPYArray.float32([2, 0.5], shape: [2]).data), path: "p.npy")
        #expect(throws: NPYError.notIntegral(index: 1, value: 0.5)) { try bad.integers() }
    }

    @Test("malformed files give errors that name the file and the problem")
    func errors() {
        #expect(throws: NPYError.badMagic(path: "m.npy")) { try NPYFile.parse(Data("PK\u{3}\u{4}not numpy".utf8), path: "m.npy") }
        #expect(throws: NPYError.fortranOrder(path: "f.npy")) { try NPYFile.parse(numpyBytes(fortran: "True"), path: "f.npy") }
        #expect(throws: NPYError.unsupportedDType(path: "u.npy", descr: ">f4")) { try NPYFile.parse(numpyBytes(descr: ">f4"), path: "u.npy") }
        let truncated = numpyBytes().dropLast(5)
        #expect(throws: NPYError.truncated(path: "t.npy", expectedBytes: 24, foundBytes: 19)) { try NPYFile.parse(Data(truncated), path: "t.npy") }
        let message = NPYError.truncated(path: "t.npy", expectedBytes: 24, foundBytes: 19).description
        #expect(message.contains("t.npy") && message.contains("truncated"))
        #expect(throws: NPYError.self) { try NPYFile.read("/nonexistent/dir/x.npy") }
    }

    @Test("a 3-D array is refused as a matrix")
    func rank() throws {
        let path = temp("r.npy")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPYFile.write(.float32([Float](repeating: 0, count: 8), shape: [2, 2, 2]), to: path)
        #expect(throws: NPYError.unsupportedRank(path: path, shape: [2, 2, 2])) { try NPYFile.readMatrix(path) }
    }
}
