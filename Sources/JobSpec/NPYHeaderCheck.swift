import Foundation
import NPY

/// Reads only the header of a `.npy` file (shape and dtype), so validating a job never loads
/// gigabytes of features. The full reader (`NPYFile.read`) is used for the small files whose
/// contents are checked (labels, permutations).
enum NPYHeaderCheck {
    struct Info {
        var shape: [Int]
        var dtype: NPYArray.DType
        var rows: Int { shape.first ?? 1 }
        var cols: Int { shape.count == 2 ? shape[1] : 1 }
    }

    static func read(_ path: String) throws(NPYError) -> Info {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        defer { try? handle.close() }
        let prefix = (try? handle.read(upToCount: 12)) ?? Data()
        guard prefix.count >= 10, Array(prefix.prefix(6)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] else { throw .badMagic(path: path) }
        let major = prefix[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8
        case 2, 3:
            guard prefix.count >= 12 else { throw .truncated(path: path, expectedBytes: 12, foundBytes: prefix.count) }
            headerStart = 12
            headerLength = (0..<4).reduce(0) { $0 | Int(prefix[8 + $1]) << (8 * $1) }
        default:
            throw .unsupportedVersion(path: path, major: major)
        }
        guard headerLength < 1 << 20 else { throw .malformedHeader(path: path, reason: "header length \(headerLength) is implausible") }
        do { try handle.seek(toOffset: UInt64(headerStart)) } catch { throw .unreadable(path: path, reason: reason(error)) }
        let headerData = (try? handle.read(upToCount: headerLength)) ?? Data()
        guard headerData.count == headerLength else {
            throw .truncated(path: path, expectedBytes: headerStart + headerLength, foundBytes: headerStart + headerData.count)
        }
        return try parseShape(header: headerData, path: path, dataStart: headerStart + headerLength, handle: handle)
    }

    /// Extracts dtype and shape from the header text and checks that the file holds the data.
    private static func parseShape(header: Data, path: String, dataStart: Int, handle: FileHandle) throws(NPYError) -> Info {
        let text = String(decoding: header, as: UTF8.self)
        guard let shapeRange = text.range(of: #"['"]shape['"]\s*:\s*\([^)]*\)"#, options: .regularExpression) else {
            throw .malformedHeader(path: path, reason: "no 'shape' tuple")
        }
        let tuple = text[shapeRange].drop { $0 != "(" }.dropFirst().prefix { $0 != ")" }
        var shape = [Int]()
        for part in tuple.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if t.isEmpty { continue }
            guard let n = Int(t), n >= 0 else { throw .malformedHeader(path: path, reason: "shape entry '\(t)' is not a size") }
            shape.append(n)
        }
        // The dtype and Fortran-order checks are the NPY module's: it parses a copy of the
        // header with an empty shape (so no data is needed).
        let emptied = text.replacingCharacters(in: shapeRange, with: "'shape': (0,)")
        var fake = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let bytes = Array(emptied.utf8)
        fake.append(contentsOf: [UInt8(bytes.count & 0xFF), UInt8((bytes.count >> 8) & 0xFF)])
        fake.append(contentsOf: bytes)
        let dtype = try NPYFile.parse(fake, path: path).dtype
        guard let expected = NPYArray.byteCount(shape: shape, dtype: dtype) else {
            throw .malformedHeader(path: path, reason: "shape \(shape) of \(dtype.rawValue) elements is larger than any file can hold")
        }
        let end = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard end - dataStart >= expected else { throw .truncated(path: path, expectedBytes: expected, foundBytes: max(0, end - dataStart)) }
        return Info(shape: shape, dtype: dtype)
    }
}
