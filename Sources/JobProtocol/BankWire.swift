import AdaNegCore
import Foundation

/// The binary encoding of bank deltas on the wire: features stay raw float32, never JSON
/// number arrays.
///
/// Layout (little-endian): magic "ADBK", format 1 (u32), dimension (u32), count (u32),
/// version (u64); then per entry: row (i32), priority (f32), position (i64), dimension × f32.
public enum BankWire {
    static let magic: UInt32 = 0x4B42_4441 // "ADBK"
    static let headerSize = 24

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case badMagic
        case unsupportedFormat(UInt32)
        case dimensionMismatch(expected: Int, found: Int)
        case lengthMismatch(expected: Int, found: Int)

        public var description: String {
            switch self {
            case let .tooShort(n): "bank delta of \(n) bytes is shorter than its 24-byte header"
            case .badMagic: "bank delta does not start with ADBK"
            case let .unsupportedFormat(f): "bank delta format \(f) is not supported"
            case let .dimensionMismatch(e, f): "bank delta has \(f)-dimensional features, the task uses \(e)"
            case let .lengthMismatch(e, f): "bank delta should be \(e) bytes for its entry count, got \(f)"
            }
        }
    }

    public static func encode(_ delta: BankDelta, dimension: Int, version: Int64) -> Data {
        let entrySize = 16 + 4 * dimension
        var data = Data(count: headerSize + entrySize * delta.entries.count)
        data.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: UInt32(dimension).littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(delta.entries.count).littleEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: UInt64(bitPattern: version).littleEndian, toByteOffset: 16, as: UInt64.self)
            var offset = headerSize
            for e in delta.entries {
                raw.storeBytes(of: Int32(e.row).littleEndian, toByteOffset: offset, as: Int32.self)
                raw.storeBytes(of: e.key.primary.bitPattern.littleEndian, toByteOffset: offset + 4, as: UInt32.self)
                raw.storeBytes(of: Int64(e.key.position).littleEndian, toByteOffset: offset + 8, as: Int64.self)
                for (i, v) in e.feature.enumerated() {
                    raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: offset + 16 + 4 * i, as: UInt32.self)
                }
                offset += entrySize
            }
        }
        return data
    }

    public static func decode(_ data: Data, dimension: Int) throws(Problem) -> (delta: BankDelta, version: Int64) {
        guard data.count >= headerSize else { throw .tooShort(data.count) }
        let bytes = [UInt8](data)
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        guard u32(0) == magic else { throw .badMagic }
        let format = u32(4)
        guard format == 1 else { throw .unsupportedFormat(format) }
        let dim = Int(u32(8))
        let count = Int(u32(12))
        let version = Int64(bitPattern: u64(16))
        guard count == 0 || dim == dimension else { throw .dimensionMismatch(expected: dimension, found: dim) }
        let entrySize = 16 + 4 * dim
        let expected = headerSize + entrySize * count
        guard bytes.count == expected else { throw .lengthMismatch(expected: expected, found: bytes.count) }
        var entries = [BankEntry]()
        entries.reserveCapacity(count)
        bytes.withUnsafeBytes { raw in
            var offset = headerSize
            for _ in 0..<count {
                let row = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                let primary = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
                let position = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: Int64.self)))
                var feature = [Float](repeating: 0, count: dim)
                for i in 0..<dim {
                    feature[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 16 + 4 * i, as: UInt32.self)))
                }
                entries.append(BankEntry(row: row, key: BankKey(primary: primary, position: position), feature: feature))
                offset += entrySize
            }
        }
        return (BankDelta(entries: entries), version)
    }
}
