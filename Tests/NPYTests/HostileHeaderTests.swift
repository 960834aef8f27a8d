import Foundation
import Testing
@testable import NPY

/// Headers are outside data: a shape whose byte count overflows `Int` is a malformed header,
/// never a trap (it was SIGILL in `score-features` and in the coordinator).
@Suite("NPY hostile headers")
struct HostileHeaderTests {
    func file(shape: String, payload: Int = 16) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)])
        d.append(Data(header.utf8))
        d.append(Data(count: payload))
        return d
    }

    @Test("a shape whose size overflows is a malformed header", arguments: [
        "(4611686018427387904, 4611686018427387904)", "(9223372036854775807, 2)", "(3037000500, 3037000500)",
        "(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)",
    ])
    func overflowingShape(shape: String) {
        #expect {
            try NPYFile.parse(file(shape: shape), path: "x.npy")
        } throws: { error in
            guard case let NPYError.malformedHeader(path, reason) = error else { return false }
            return path == "x.npy" && reason.contains("larger than any file can hold")
        }
    }

    @Test("a shape that fits but whose data is missing is truncated, not malformed")
    func bigButFinite() {
        #expect(throws: NPYError.truncated(path: "x.npy", expectedBytes: 4_000_000, foundBytes: 16)) {
            try NPYFile.parse(file(shape: "(1000, 1000)"), path: "x.npy")
        }
    }

    @Test("byteCount: checked product of the shape and the element width")
    func byteCount() {
        #expect(NPYArray.byteCount(shape: [3, 4], dtype: .float64) == 96)
        #expect(NPYArray.byteCount(shape: [], dtype: .float32) == 4)
        #expect(NPYArray.byteCount(shape: [0, Int.max], dtype: .float32) == 0)
        #expect(NPYArray.byteCount(shape: [Int.max / 4 + 1], dtype: .float32) == nil)
        #expect(NPYArray.byteCount(shape: [-1], dtype: .float32) == nil)
    }
}
