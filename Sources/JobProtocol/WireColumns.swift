import Foundation

/// Per-sample columns of 32-bit values inside a JSON body, as one base64 block of little-endian
/// values each instead of a JSON array of numbers: parsing thousands of decimal numbers per
/// unit was the coordinator's largest cost on completions, and writing them on leases
/// (`UnitResults`, `LeaseGrant`). A column sent as a JSON array of numbers (older clients,
/// hand-written requests) is still read; anything else is refused naming `prefix.key`.
enum WireColumns {
    static func block(_ values: some Sequence<UInt32>, count: Int) -> String {
        var data = Data(count: count * 4)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        }
        return data.base64EncodedString()
    }

    /// Integers as int32; out-of-range ones are clamped, so they stay out of range for the
    /// receiver's checks.
    static func encode<K: CodingKey>(ints: [Int], _ c: inout KeyedEncodingContainer<K>, _ key: K) throws {
        try c.encode(block(ints.lazy.map { UInt32(bitPattern: Int32(clamping: $0)) }, count: ints.count), forKey: key)
    }

    static func encode<K: CodingKey>(floats: [Float], _ c: inout KeyedEncodingContainer<K>, _ key: K) throws {
        try c.encode(block(floats.lazy.map(\.bitPattern), count: floats.count), forKey: key)
    }

    static func ints<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K, prefix: String) throws -> [Int] {
        if let text = try? c.decode(String.self, forKey: key) {
            return try values(text, c, key, prefix) { Int(Int32(bitPattern: $0)) }
        }
        return try c.decode([Int].self, forKey: key)
    }

    static func floats<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K, prefix: String) throws -> [Float] {
        if let text = try? c.decode(String.self, forKey: key) {
            return try values(text, c, key, prefix) { Float(bitPattern: $0) }
        }
        return try c.decode([Float].self, forKey: key)
    }

    /// A JSON array of strings and nulls (per-sample errors, nearly all null), read element by
    /// element with `decodeNil` first: decoding it as `[String?]` builds a decoder per element,
    /// which made it half of a completion's decoding (perf, 64 workers flat out).
    /// A JSON array of strings and nulls, element by element: the same JSON as encoding the
    /// `[String?]`, without the generic path through `Optional` per element (a completion's
    /// 1,024 `null`s had been a tenth of a simulated fleet's CPU in a wave of completions).
    static func encode<K: CodingKey>(optionalStrings values: [String?], _ c: inout KeyedEncodingContainer<K>, _ key: K) throws {
        var array = c.nestedUnkeyedContainer(forKey: key)
        for value in values {
            if let value { try array.encode(value) } else { try array.encodeNil() }
        }
    }

    static func optionalStrings<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> [String?] {
        var array = try c.nestedUnkeyedContainer(forKey: key)
        var out = [String?]()
        out.reserveCapacity(array.count ?? 0)
        while !array.isAtEnd {
            out.append(try array.decodeNil() ? nil : array.decode(String.self))
        }
        return out
    }

    private static func values<K: CodingKey, T>(_ text: String, _ c: KeyedDecodingContainer<K>, _ key: K, _ prefix: String,
                                                 _ value: (UInt32) -> T) throws -> [T] {
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c,
                                                   debugDescription: "\(prefix).\(key.stringValue): not base64 of little-endian 32-bit values (or a JSON array of numbers)")
        }
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { value(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
