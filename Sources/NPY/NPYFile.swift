import Foundation
import Platform

/// Reading and writing `.npy` files.
public enum NPYFile {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    // MARK: Reading

    public static func read(_ path: String) throws(NPYError) -> NPYArray {
        try checkRegular(path)
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        return try parse(bytes, path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` only labels errors.
    public static func parse(_ bytes: Data, path: String) throws(NPYError) -> NPYArray {
        let header = try parseHeader(bytes, path: path)
        let available = bytes.count - header.dataOffset
        guard available >= header.dataBytes else {
            throw .truncated(path: path, expectedBytes: header.dataBytes, foundBytes: available)
        }
        let first = bytes.startIndex + header.dataOffset
        return NPYArray(shape: header.shape, dtype: header.dtype, data: bytes.subdata(in: first ..< first + header.dataBytes))
    }

    /// Reads only the header of a `.npy` file (shape and dtype) and checks that the file is long
    /// enough to hold the data it declares: validating a job never loads gigabytes of features.
    public static func readHeader(_ path: String) throws(NPYError) -> NPYHeaderInfo {
        try checkRegular(path)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        defer { try? handle.close() }
        var bytes = (try? handle.read(upToCount: 12)) ?? Data()
        let (headerStart, headerLength) = try preamble(bytes, path: path)
        if let rest = try? handle.read(upToCount: headerStart + headerLength - bytes.count) { bytes.append(rest) }
        let header = try parseHeader(bytes, path: path)
        let end = (try? handle.seekToEnd()).map { Int(clamping: $0) } ?? 0
        guard end - header.dataOffset >= header.dataBytes else {
            throw .truncated(path: path, expectedBytes: header.dataBytes, foundBytes: max(0, end - header.dataOffset))
        }
        return header
    }

    /// The largest header accepted: NumPy writes a few hundred bytes; anything near this is not
    /// a `.npy` file.
    static let maxHeaderLength = 1 << 20

    /// Where the header text starts and how long it is, from the magic and version bytes.
    private static func preamble(_ bytes: Data, path: String) throws(NPYError) -> (start: Int, length: Int) {
        guard bytes.count >= 10, Array(bytes.prefix(6)) == magic else { throw .badMagic(path: path) }
        let major = bytes[bytes.startIndex + 6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[bytes.startIndex + 8]) | Int(bytes[bytes.startIndex + 9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw .truncated(path: path, expectedBytes: 12, foundBytes: bytes.count) }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[bytes.startIndex + 8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw .unsupportedVersion(path: path, major: major)
        }
        guard headerLength <= maxHeaderLength else { throw .malformedHeader(path: path, reason: "header length \(headerLength) is implausible") }
        return (headerStart, headerLength)
    }

    /// The one header parser: magic, version, the header dictionary, dtype and the size of the
    /// data it declares (checked for overflow). `bytes` must hold at least the whole header.
    private static func parseHeader(_ bytes: Data, path: String) throws(NPYError) -> NPYHeaderInfo {
        let (headerStart, headerLength) = try preamble(bytes, path: path)
        let major = bytes[bytes.startIndex + 6]
        guard bytes.count >= headerStart + headerLength else {
            throw .truncated(path: path, expectedBytes: headerStart + headerLength, foundBytes: bytes.count)
        }
        let headerBytes = bytes.subdata(in: bytes.startIndex + headerStart ..< bytes.startIndex + headerStart + headerLength)
        guard let header = String(data: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw .malformedHeader(path: path, reason: "header is not text")
        }
        let fields = try NPYHeader.parse(header, path: path)
        guard !fields.fortranOrder else { throw .fortranOrder(path: path) }
        guard let dtype = NPYArray.DType(rawValue: fields.descr.replacingOccurrences(of: "|", with: "<")) else {
            throw .unsupportedDType(path: path, descr: fields.descr)
        }
        guard let expected = NPYArray.byteCount(shape: fields.shape, dtype: dtype) else {
            throw .malformedHeader(path: path, reason: "shape \(fields.shape) of \(dtype.rawValue) elements is larger than any file can hold")
        }
        return NPYHeaderInfo(shape: fields.shape, dtype: dtype, dataOffset: headerStart + headerLength, dataBytes: expected)
    }

    /// Refuses what is not a regular file before it is opened (a FIFO would block the read,
    /// `/dev/zero` never end); a missing file reads as before, "cannot read: no such file".
    static func checkRegular(_ path: String) throws(NPYError) {
        do {
            try RegularFile.check(path)
        } catch {
            throw error.problem == .missing ? .unreadable(path: path, reason: "no such file") : .notAFile(error)
        }
    }

    // MARK: Writing

    /// Serialises an array (format version 1.0, header padded to 64 bytes as NumPy does).
    public static func encode(_ array: NPYArray) -> Data {
        let shapeText: String
        switch array.shape.count {
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(array.dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data(magic)
        out.append(contentsOf: [1, 0])
        let length = header.utf8.count
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(array.data)
        return out
    }

    /// Writes atomically: the data goes to a temporary file next to `path` that is renamed
    /// into place, so a failed run never leaves a partial output behind.
    public static func write(_ array: NPYArray, to path: String) throws(NPYError) {
        do {
            try encode(array).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .unwritable(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}

// MARK: - Header dictionary

/// The three fields of the Python-literal header dictionary.
struct NPYHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    static func parse(_ text: String, path: String) throws(NPYError) -> NPYHeader {
        func value(of key: String) -> Substring? {
            guard let keyRange = text.range(of: "'\(key)'") ?? text.range(of: "\"\(key)\"") else { return nil }
            let rest = text[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
            return rest
        }
        guard let descrRest = value(of: "descr"), let quote = descrRest.first, quote == "'" || quote == "\"",
              let end = descrRest.dropFirst().firstIndex(of: quote)
        else { throw .malformedHeader(path: path, reason: "no 'descr' string") }
        let descr = String(descrRest[descrRest.index(after: descrRest.startIndex)..<end])

        guard let orderRest = value(of: "fortran_order") else { throw .malformedHeader(path: path, reason: "no 'fortran_order'") }
        let fortran: Bool
        if orderRest.hasPrefix("True") { fortran = true }
        else if orderRest.hasPrefix("False") { fortran = false }
        else { throw .malformedHeader(path: path, reason: "'fortran_order' is neither True nor False") }

        guard let shapeRest = value(of: "shape"), shapeRest.first == "(", let close = shapeRest.firstIndex(of: ")") else {
            throw .malformedHeader(path: path, reason: "no 'shape' tuple")
        }
        let inner = shapeRest[shapeRest.index(after: shapeRest.startIndex)..<close]
        var shape = [Int]()
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            guard !trimmed.isEmpty else { continue }
            guard let n = Int(trimmed), n >= 0 else { throw .malformedHeader(path: path, reason: "shape entry '\(trimmed)' is not a size") }
            shape.append(n)
        }
        return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }
}

/// What a `.npy` header declares: the array's shape and dtype, and where its data lies.
public struct NPYHeaderInfo: Sendable, Equatable {
    public var shape: [Int]
    public var dtype: NPYArray.DType
    /// Byte offset of the data in the file.
    public var dataOffset: Int
    /// Bytes of data the shape and dtype call for.
    public var dataBytes: Int

    /// Rows of a 1-D or 2-D array.
    public var rows: Int { shape.first ?? 1 }
    /// Columns of a 2-D array (1 for a vector).
    public var cols: Int { shape.count == 2 ? shape[1] : 1 }
}
