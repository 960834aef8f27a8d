import Foundation

/// A leased unit's feature-file rows, as `GET /v1/units/{unit}/rows` sends them: raw float32
/// rows, never JSON. Leases carry no rows (a unit of 2,048 rows of D = 512 was 5.6 MB of base64
/// inside JSON, encoded by the coordinator on every lease); the lease holder fetches them here.
///
/// The rows are the file's values as float32 (converted by `NPYArray.DType.convert` when the
/// file holds another type), **not normalised**: the worker checks them for NaN/±∞ and
/// normalises them with `UnitNorm` itself, the same steps `FeatureFileRows.normalizedRow` takes,
/// so it scores the same bits as before and the coordinator does no work per value.
///
/// Format 1, little-endian:
///
/// | offset | field |
/// |---|---|
/// | 0 | magic `ADRW` (u32) |
/// | 4 | format (u32) = 1 |
/// | 8 | count (u32): samples of the unit, in stream order |
/// | 12 | dimension D (u32) |
/// | 16 | per sample one byte: 1 = its row follows, 0 = none (an image sample, or a row the coordinator could not read: the worker reads its own copy of the file) |
/// | 16 + count, zero-padded to a multiple of 8 | the present samples' rows, in sample order, D float32 each |
public struct UnitRows: Sendable, Equatable {
    public var dimension: Int
    /// Per sample: the index of its row in `values`, or nil.
    public var rowIndex: [Int?]
    /// The present rows, `dimension` values each.
    public var values: [Float]

    public init(dimension: Int, rowIndex: [Int?], values: [Float]) {
        self.dimension = dimension
        self.rowIndex = rowIndex
        self.values = values
    }

    public var count: Int { rowIndex.count }

    /// Sample `i`'s row, or nil.
    public func row(_ i: Int) -> ArraySlice<Float>? {
        guard i >= 0, i < rowIndex.count, let r = rowIndex[i] else { return nil }
        return values[r * dimension ..< (r + 1) * dimension]
    }
}

public enum UnitRowsWire {
    static let magic: UInt32 = 0x5752_4441 // "ADRW"
    public static let format: UInt32 = 1
    public static let headerSize = 16
    /// The most samples a unit holds (`WorkPlan` caps a unit far below this).
    public static let maxCount = 1 << 24

    /// Why a body is not a unit's rows; each names the field.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case badMagic
        case unsupportedFormat(UInt32)
        case badCount(Int)
        case badDimension(Int)
        case badPresence(sample: Int, value: UInt8)
        case badPadding(offset: Int)
        case lengthMismatch(expected: Int, found: Int)

        public var description: String {
            switch self {
            case let .tooShort(n): "unit rows of \(n) bytes are shorter than their \(UnitRowsWire.headerSize)-byte header"
            case .badMagic: "unit rows do not start with ADRW"
            case let .unsupportedFormat(f): "unit rows field 'format': \(f) is not supported (format \(UnitRowsWire.format))"
            case let .badCount(n): "unit rows field 'count': \(n) samples is out of range (0 to \(UnitRowsWire.maxCount))"
            case let .badDimension(d): "unit rows field 'dimension': \(d) is not a feature dimension (1 to 65536)"
            case let .badPresence(sample, value): "unit rows field 'present' of sample \(sample): \(value), not 0 or 1"
            case let .badPadding(offset): "unit rows: padding byte at offset \(offset) is not 0"
            case let .lengthMismatch(e, f): "unit rows: the body should be \(e) bytes for its count, dimension and present rows, got \(f)"
            }
        }
    }

    /// Where the rows start: after the header and the presence bytes, padded to 8.
    public static func rowsOffset(count: Int) -> Int { (headerSize + count + 7) & ~7 }

    /// The body's size for `count` samples of which `present` have a row.
    public static func byteCount(count: Int, dimension: Int, present: Int) -> Int {
        rowsOffset(count: count) + present * dimension * 4
    }

    /// Writes a body into `out` (exactly `byteCount` bytes): the header and presence bytes, then
    /// `row(k, destination)` for the k-th present row, which fills its `dimension × 4` bytes
    /// (read from the file into place: the coordinator converts no value).
    public static func write(count: Int, dimension: Int, present: [Bool], into out: UnsafeMutableRawBufferPointer,
                             row: (_ sample: Int, _ destination: UnsafeMutableRawBufferPointer) -> Void) {
        precondition(present.count == count && out.count == byteCount(count: count, dimension: dimension, present: present.count { $0 }))
        out.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        out.storeBytes(of: format.littleEndian, toByteOffset: 4, as: UInt32.self)
        out.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 8, as: UInt32.self)
        out.storeBytes(of: UInt32(dimension).littleEndian, toByteOffset: 12, as: UInt32.self)
        let start = rowsOffset(count: count)
        for i in headerSize..<start { out[i] = 0 }
        var offset = start
        let rowBytes = dimension * 4
        for (i, p) in present.enumerated() where p {
            out[headerSize + i] = 1
            row(i, UnsafeMutableRawBufferPointer(rebasing: out[offset ..< offset + rowBytes]))
            offset += rowBytes
        }
    }

    /// A whole body as `Data` (tests and in-process callers; the coordinator's route writes
    /// into its response buffer directly).
    public static func encode(_ rows: UnitRows) -> Data {
        let present = rows.rowIndex.map { $0 != nil }
        var data = Data(count: byteCount(count: rows.count, dimension: rows.dimension, present: present.count { $0 }))
        data.withUnsafeMutableBytes { out in
            write(count: rows.count, dimension: rows.dimension, present: present, into: out) { i, destination in
                guard let row = rows.row(i) else { return }
                row.withUnsafeBytes { destination.copyMemory(from: $0) }
            }
        }
        return data
    }

    /// A body as the worker receives it, every field checked against the others.
    public static func decode(_ data: Data) throws(Problem) -> UnitRows {
        guard data.count >= headerSize else { throw .tooShort(data.count) }
        return try data.withUnsafeBytes { raw in Result { () throws(Problem) in try decode(raw) } }.get()
    }

    private static func decode(_ raw: UnsafeRawBufferPointer) throws(Problem) -> UnitRows {
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        guard u32(0) == magic else { throw .badMagic }
        guard u32(4) == format else { throw .unsupportedFormat(u32(4)) }
        let count = Int(u32(8)), dimension = Int(u32(12))
        guard count <= maxCount else { throw .badCount(count) }
        guard (1...65_536).contains(dimension) else { throw .badDimension(dimension) }
        let start = rowsOffset(count: count)
        guard raw.count >= start else { throw .lengthMismatch(expected: start, found: raw.count) }
        var rowIndex = [Int?](repeating: nil, count: count)
        var present = 0
        for i in 0..<count {
            switch raw[headerSize + i] {
            case 0: break
            case 1:
                rowIndex[i] = present
                present += 1
            case let value: throw .badPresence(sample: i, value: value)
            }
        }
        for offset in headerSize + count ..< start where raw[offset] != 0 { throw .badPadding(offset: offset) }
        let expected = byteCount(count: count, dimension: dimension, present: present)
        guard raw.count == expected else { throw .lengthMismatch(expected: expected, found: raw.count) }
        let values = [Float](unsafeUninitializedCapacity: present * dimension) { buffer, initialized in
            for i in 0..<present * dimension {
                buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self)))
            }
            initialized = present * dimension
        }
        return UnitRows(dimension: dimension, rowIndex: rowIndex, values: values)
    }
}
