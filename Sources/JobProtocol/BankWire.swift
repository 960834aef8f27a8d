import AdaNegCore
import Foundation

/// The binary encoding of bank syncs: features are raw floats, never JSON number arrays.
///
/// Format 2, little-endian. An 80-byte header, each field in its own slot:
///
/// | offset | field | request | reply |
/// |---|---|---|---|
/// | 0 | magic `ADBK` (u32) | | |
/// | 4 | format (u32) = 2 | | |
/// | 8 | dimension D (u32) | the task's | the task's |
/// | 12 | count (u32) | entries pushed | entries pulled |
/// | 16 | element (u32): bytes per feature value | 4 (float32) | 2 (float16) |
/// | 20 | reserved (u32) = 0 | | |
/// | 24 | since (i64) | version held | echoed |
/// | 32 | version (i64) | 0 | version reached |
/// | 40 | position (i64) | pushed below it | echoed |
/// | 48 | behind (i64) | 0 | entries left for later |
/// | 56 | frontier (i64) | 0 | first unmerged position |
/// | 64 | window (i64) | 0 | −1: no bound |
/// | 72 | max behind (i64) | 0 | −1: no bound |
///
/// Then per entry: row (i32), priority (f32), position (i64), D values of `element` bytes.
/// Pushes stay float32, so the coordinator's bank holds exactly what the workers scored;
/// pulls are float16 (relative error ≤ 2⁻¹¹ on unit-length features), half the bytes.
public enum BankWire {
    static let magic: UInt32 = 0x4B42_4441 // "ADBK"
    public static let format: UInt32 = 2
    public static let headerSize = 80

    /// Bytes per feature value.
    public enum Element: UInt32, Sendable {
        case float32 = 4
        case float16 = 2
    }

    /// Why a body is not a bank sync; each names the field.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case badMagic
        case unsupportedFormat(UInt32)
        case badElement(UInt32)
        case badDimension(Int)
        case dimensionMismatch(expected: Int, found: Int)
        case lengthMismatch(expected: Int, found: Int)
        case fieldOutOfRange(field: String, value: Int64, allowed: String)

        public var description: String {
            switch self {
            case let .tooShort(n): "bank sync of \(n) bytes is shorter than its \(BankWire.headerSize)-byte header"
            case .badMagic: "bank sync does not start with ADBK"
            case let .unsupportedFormat(f): "bank sync field 'format': \(f) is not supported (this coordinator speaks format \(BankWire.format))"
            case let .badElement(e): "bank sync field 'element': \(e) bytes per value; a request sends 4 (float32)"
            case let .badDimension(d): "bank sync field 'dimension': \(d) is not a feature dimension (1 to 65536)"
            case let .dimensionMismatch(e, f): "bank sync field 'dimension': \(f)-dimensional features, the task uses \(e)"
            case let .lengthMismatch(e, f): "bank sync field 'count': the body should be \(e) bytes for its entry count, got \(f)"
            case let .fieldOutOfRange(field, value, allowed): "bank sync field '\(field)': \(value) is out of range (\(allowed))"
            }
        }
    }

    /// The fields of a header.
    public struct Header: Sendable, Equatable {
        public var dimension: Int
        public var count: Int
        public var element: Element
        public var since: Int64
        public var version: Int64
        public var position: Int64
        public var behind: Int64
        public var frontier: Int64
        public var window: Int64
        public var maxBehind: Int64

        public func bodyBytes() -> Int { BankWire.headerSize + count * BankWire.entrySize(dimension: dimension, element: element) }
    }

    public static func entrySize(dimension: Int, element: Element) -> Int { 16 + Int(element.rawValue) * dimension }

    // MARK: Encoding

    /// A worker's request: float32 features.
    public static func encode(_ request: BankSyncRequest, dimension: Int) -> Data {
        encode(Header(dimension: dimension, count: request.delta.entries.count, element: .float32, since: request.since, version: 0,
                      position: Int64(request.position), behind: 0, frontier: 0, window: 0, maxBehind: 0),
               request.delta.entries)
    }

    /// The coordinator's reply to a request that held `since`: float16 features.
    public static func encode(_ reply: BankSyncReply, since: Int64, position: Int, dimension: Int) -> Data {
        encode(replyHeader(reply, count: reply.delta.entries.count, since: since, position: position, dimension: dimension), reply.delta.entries)
    }

    /// The header of the reply to a request that held `since`, for `count` float16 entries
    /// (`reply.delta` is not read: a coordinator writing entries it encoded before passes the count).
    public static func replyHeader(_ reply: BankSyncReply, count: Int, since: Int64, position: Int, dimension: Int) -> Header {
        Header(dimension: dimension, count: count, element: .float16, since: since, version: reply.version,
               position: Int64(position), behind: Int64(reply.behind), frontier: Int64(reply.frontier),
               window: reply.window.map(Int64.init) ?? -1, maxBehind: reply.maxBehind.map(Int64.init) ?? -1)
    }

    static func encode(_ h: Header, _ entries: [BankEntry]) -> Data {
        precondition(h.count == entries.count, "a header of \(h.count) entries encoded with \(entries.count)")
        let entrySize = entrySize(dimension: h.dimension, element: h.element)
        var data = Data(count: headerSize + entrySize * entries.count)
        data.withUnsafeMutableBytes { raw in
            write(h, into: raw)
            var offset = headerSize
            for e in entries {
                precondition(e.feature.count == h.dimension, "a bank entry of \(e.feature.count) values encoded as \(h.dimension)-dimensional")
                e.feature.withUnsafeBufferPointer { writeEntry(row: e.row, key: e.key, feature: $0, element: h.element, into: raw, at: offset) }
                offset += entrySize
            }
        }
        return data
    }

    /// Writes `h` into the first `headerSize` bytes of `raw`.
    public static func write(_ h: Header, into raw: UnsafeMutableRawBufferPointer) {
        precondition(raw.count >= headerSize, "a bank sync header needs \(headerSize) bytes")
        func put32(_ v: UInt32, _ at: Int) { raw.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self) }
        func put64(_ v: Int64, _ at: Int) { raw.storeBytes(of: v.littleEndian, toByteOffset: at, as: Int64.self) }
        put32(magic, 0); put32(format, 4); put32(UInt32(h.dimension), 8); put32(UInt32(h.count), 12)
        put32(h.element.rawValue, 16); put32(0, 20)
        put64(h.since, 24); put64(h.version, 32); put64(h.position, 40); put64(h.behind, 48)
        put64(h.frontier, 56); put64(h.window, 64); put64(h.maxBehind, 72)
    }

    /// Writes one entry (`entrySize(dimension: feature.count, element:)` bytes) at `offset`:
    /// the one encoding of an entry, used per pull and by a coordinator that encodes each
    /// accepted entry once and copies its bytes into every pull (`TaskBank`).
    public static func writeEntry(row: Int, key: BankKey, feature: UnsafeBufferPointer<Float>, element: Element,
                                  into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + entrySize(dimension: feature.count, element: element) <= raw.count, "a bank entry written past its buffer")
        raw.storeBytes(of: Int32(truncatingIfNeeded: row).littleEndian, toByteOffset: offset, as: Int32.self)
        raw.storeBytes(of: key.primary.bitPattern.littleEndian, toByteOffset: offset + 4, as: UInt32.self)
        raw.storeBytes(of: Int64(key.position).littleEndian, toByteOffset: offset + 8, as: Int64.self)
        let values = offset + 16
        switch element {
        case .float32:
            for (i, v) in feature.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: values + 4 * i, as: UInt32.self) }
        case .float16:
            for (i, v) in feature.enumerated() { raw.storeBytes(of: HalfPrecision.bits(v).littleEndian, toByteOffset: values + 2 * i, as: UInt16.self) }
        }
    }

    // MARK: Decoding

    /// The header of a body, checked against itself (format, element, dimension, length): the
    /// dimension comes from here, so a body is checked in one pass. `element`: the only one
    /// allowed (requests carry float32), checked before the length it decides.
    public static func header(_ data: Data, element required: Element? = nil) throws(Problem) -> Header {
        guard data.count >= headerSize else { throw .tooShort(data.count) }
        let h = data.withUnsafeBytes { raw -> (UInt32, UInt32, UInt32, UInt32, UInt32, [Int64]) in
            func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
            func i64(_ at: Int) -> Int64 { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self)) }
            return (u32(0), u32(4), u32(8), u32(12), u32(16), stride(from: 24, to: 80, by: 8).map(i64))
        }
        guard h.0 == magic else { throw .badMagic }
        guard h.1 == format else { throw .unsupportedFormat(h.1) }
        guard let element = Element(rawValue: h.4), required == nil || element == required else { throw .badElement(h.4) }
        let dimension = Int(h.2), count = Int(h.3)
        guard (1...65_536).contains(dimension) else { throw .badDimension(dimension) }
        let header = Header(dimension: dimension, count: count, element: element, since: h.5[0], version: h.5[1], position: h.5[2],
                            behind: h.5[3], frontier: h.5[4], window: h.5[5], maxBehind: h.5[6])
        let expected = header.bodyBytes()
        guard data.count == expected else { throw .lengthMismatch(expected: expected, found: data.count) }
        return header
    }

    /// A worker's request as the coordinator receives it: float32 features, reply-only fields 0,
    /// `since` and `position` not negative. The dimension is the header's; the caller checks it
    /// against the task's (`Problem.dimensionMismatch`).
    public static func decodeRequest(_ data: Data) throws(Problem) -> (dimension: Int, request: BankSyncRequest) {
        let h = try header(data, element: .float32)
        for (field, value) in [("version", h.version), ("behind", h.behind), ("frontier", h.frontier), ("window", h.window), ("max_behind", h.maxBehind)]
        where value != 0 {
            throw .fieldOutOfRange(field: field, value: value, allowed: "set by the coordinator in replies; 0 in a request")
        }
        guard h.since >= 0 else { throw .fieldOutOfRange(field: "since", value: h.since, allowed: "a bank version, 0 or more") }
        guard h.position >= 0 else {
            throw .fieldOutOfRange(field: "position", value: h.position, allowed: "a stream position, 0 or more")
        }
        return (h.dimension, BankSyncRequest(since: h.since, position: Int(h.position), delta: entries(data, h)))
    }

    /// The coordinator's reply as a worker receives it, for a task of `dimension`.
    public static func decodeReply(_ data: Data, dimension: Int) throws(Problem) -> BankSyncReply {
        let (h, bare) = try decodeReplyHeader(data, dimension: dimension)
        var reply = bare
        reply.delta = entries(data, h)
        return reply
    }

    /// A reply's header, checked as `decodeReply` checks it, and the reply without its
    /// entries (its features not widened): for the scale simulator, whose thousand workers in
    /// one process merge nothing, so its CPU is not spent on what real workers do on their own
    /// machines. `entryRows` gives the entries' rows.
    public static func decodeReplyHeader(_ data: Data, dimension: Int) throws(Problem) -> (header: Header, reply: BankSyncReply) {
        let h = try header(data)
        guard h.dimension == dimension else { throw .dimensionMismatch(expected: dimension, found: h.dimension) }
        guard h.version >= 0 else { throw .fieldOutOfRange(field: "version", value: h.version, allowed: "a bank version, 0 or more") }
        guard h.behind >= 0 else { throw .fieldOutOfRange(field: "behind", value: h.behind, allowed: "0 or more") }
        guard h.frontier >= 0 else { throw .fieldOutOfRange(field: "frontier", value: h.frontier, allowed: "a stream position, 0 or more") }
        return (h, BankSyncReply(version: h.version, behind: Int(clamping: h.behind), frontier: Int(clamping: h.frontier),
                                 window: h.window < 0 ? nil : Int(clamping: h.window), maxBehind: h.maxBehind < 0 ? nil : Int(clamping: h.maxBehind)))
    }

    /// The row of each entry after a checked header.
    public static func entryRows(_ data: Data, _ h: Header) -> [Int] {
        let entrySize = entrySize(dimension: h.dimension, element: h.element)
        return data.withUnsafeBytes { raw in
            (0..<h.count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: headerSize + $0 * entrySize, as: Int32.self))) }
        }
    }

    /// The entries after a checked header, features widened to float32.
    static func entries(_ data: Data, _ h: Header) -> BankDelta {
        let entrySize = entrySize(dimension: h.dimension, element: h.element)
        var entries = [BankEntry]()
        entries.reserveCapacity(h.count)
        data.withUnsafeBytes { raw in
            var offset = headerSize
            for _ in 0..<h.count {
                let row = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                let primary = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
                let position = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: Int64.self)))
                let values = offset + 16
                let feature = [Float](unsafeUninitializedCapacity: h.dimension) { buffer, initialized in
                    switch h.element {
                    case .float32:
                        for i in 0..<h.dimension { buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: values + 4 * i, as: UInt32.self))) }
                    case .float16:
                        for i in 0..<h.dimension { buffer[i] = HalfPrecision.float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: values + 2 * i, as: UInt16.self))) }
                    }
                    initialized = h.dimension
                }
                entries.append(BankEntry(row: row, key: BankKey(primary: primary, position: position), feature: feature))
                offset += entrySize
            }
        }
        return BankDelta(entries: entries)
    }
}
