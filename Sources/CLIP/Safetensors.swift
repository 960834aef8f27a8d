import Foundation
import Platform
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header
/// mapping tensor names to dtype, shape and byte offsets, then the raw little-endian data.
///
/// Tensors are converted to `Float` on request (F32 copied, F16 and BF16 widened), so a model
/// converts each weight once at load time and the mapping can be dropped afterwards.
public struct SafetensorsFile: @unchecked Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range inside the data section.
        public var offsets: Range<Int>

        /// Wrapping: only meaningful for a known dtype, whose size the header check has bounded.
        public var elementCount: Int { shape.reduce(1, &*) }
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let bytes: Data
    private let dataStart: Int
    private var mapping: MappedFile?

    // MARK: Opening

    /// Memory-maps the file (read-only) and parses its header.
    public init(path: String) throws(SafetensorsError) {
        let mapping = try MappedFile(path: path)
        // The mapping goes when its last holder does: this Data, or a weight matrix that points
        // into it (`mapped(_:as:)`).
        let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: mapping.base), count: mapping.count, deallocator: .custom { _, _ in
            withExtendedLifetime(mapping) {}
        })
        try self.init(data: data, path: path)
        self.mapping = mapping
    }

    /// Parses in-memory bytes; `path` only labels errors.
    public init(data: Data, path: String) throws(SafetensorsError) {
        self.path = path
        self.bytes = data
        guard data.count >= 8 else { throw .tooShort(path: path, size: data.count) }
        let headerLength: UInt64 = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self) }.littleEndian
        guard headerLength <= UInt64(data.count - 8), headerLength <= 100_000_000 else {
            throw .badHeaderLength(path: path, declared: headerLength, fileSize: data.count)
        }
        let headerEnd = 8 + Int(headerLength)
        dataStart = headerEnd
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data.subdata(in: data.startIndex + 8 ..< data.startIndex + headerEnd))
        } catch {
            throw .malformedHeader(path: path, reason: "header is not valid JSON")
        }
        guard let header = object as? [String: Any] else { throw .malformedHeader(path: path, reason: "header is not a JSON object") }
        let available = data.count - headerEnd
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if let m = value as? [String: Any] { for (k, v) in m { metadata[k] = "\(v)" } }
                continue
            }
            guard let entry = value as? [String: Any] else { throw .badTensorEntry(path: path, tensor: name, reason: "entry is not an object") }
            guard let dtype = entry["dtype"] as? String else { throw .badTensorEntry(path: path, tensor: name, reason: "no dtype") }
            guard let shapeValues = entry["shape"] as? [Any], let offsetValues = entry["data_offsets"] as? [Any], offsetValues.count == 2 else {
                throw .badTensorEntry(path: path, tensor: name, reason: "no shape or data_offsets")
            }
            var shape: [Int] = []
            for s in shapeValues {
                guard let n = (s as? NSNumber)?.intValue, n >= 0 else { throw .badTensorEntry(path: path, tensor: name, reason: "bad shape \(shapeValues)") }
                shape.append(n)
            }
            guard let begin = (offsetValues[0] as? NSNumber)?.intValue, let end = (offsetValues[1] as? NSNumber)?.intValue,
                  begin >= 0, end >= begin
            else { throw .badTensorEntry(path: path, tensor: name, reason: "bad data_offsets \(offsetValues)") }
            if let width = Self.byteWidth(dtype) {
                // Checked: a hostile header can declare a shape whose product overflows.
                var expected = width
                for n in shape {
                    let (product, overflow) = expected.multipliedReportingOverflow(by: n)
                    guard !overflow else { throw .badTensorEntry(path: path, tensor: name, reason: "shape \(shape) is larger than any file can hold") }
                    expected = product
                }
                guard end - begin == expected else {
                    throw .badTensorEntry(path: path, tensor: name, reason: "\(dtype) \(shape) needs \(expected) bytes, data_offsets span \(end - begin)")
                }
            }
            guard end <= available else { throw .truncated(path: path, tensor: name, needsBytes: end, fileHasBytes: available) }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, offsets: begin ..< end)
        }
        // Sorted by where they start, any two that overlap are neighbours.
        let spans = tensors.filter { !$0.value.offsets.isEmpty }.sorted { ($0.value.offsets.lowerBound, $0.key) < ($1.value.offsets.lowerBound, $1.key) }
        for (a, b) in zip(spans, spans.dropFirst()) where b.value.offsets.lowerBound < a.value.offsets.upperBound {
            throw .overlappingTensors(path: path, first: a.key, firstBytes: a.value.offsets, second: b.key, secondBytes: b.value.offsets)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    static func byteWidth(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": 8
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2": 1
        default: nil
        }
    }

    // MARK: Zero-copy access

    /// The tensor's bytes in place, when the file is mapped and the tensor is stored as
    /// `precision` (F32 for fp32, BF16 for bf16) at an aligned offset: nil otherwise.
    public func mapped(_ name: String, as precision: Precision) -> MappedWeights? {
        guard let mapping, let info = tensors[name] else { return nil }
        guard info.dtype == (precision == .fp32 ? "F32" : "BF16") else { return nil }
        return MappedWeights(base: mapping.base + dataStart + info.offsets.lowerBound, precision: precision, owner: mapping)
    }

    /// A tensor's bytes in place whatever its dtype (packed weights of a converted-weights
    /// cache), with the mapping that keeps them alive; nil when the file is not mapped.
    func mappedBytes(_ name: String) -> (UnsafeRawPointer, AnyObject)? {
        guard let mapping, let info = tensors[name] else { return nil }
        return (mapping.base + dataStart + info.offsets.lowerBound, mapping)
    }

    /// Where the data section starts in the file.
    var dataOffset: Int { dataStart }

    /// The index of the tensor's first element that is NaN or ±∞ as stored (F32, F16, BF16,
    /// F64), nil when every element is finite or the dtype is not a float.
    public func firstNonFinite(_ name: String) -> (index: Int, value: Float)? {
        guard let info = tensors[name] else { return nil }
        let count = info.elementCount
        let start = dataStart + info.offsets.lowerBound
        return bytes.withUnsafeBytes { raw -> (Int, Float)? in
            let src = UnsafeRawBufferPointer(rebasing: raw[start ..< start + info.offsets.count])
            switch info.dtype {
            case "F32":
                for i in 0..<count {
                    let v = src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                    if v & 0x7F80_0000 == 0x7F80_0000 { return (i, Float(bitPattern: v)) }
                }
            case "F16":
                for i in 0..<count {
                    let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    if v & 0x7C00 == 0x7C00 { return (i, Self.halfToFloat(v)) }
                }
            case "BF16":
                for i in 0..<count {
                    let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    if v & 0x7F80 == 0x7F80 { return (i, Float(bitPattern: UInt32(v) << 16)) }
                }
            case "F64":
                for i in 0..<count {
                    let v = src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)
                    if !Float(v).isFinite { return (i, Float(v)) }
                }
            default:
                return nil
            }
            return nil
        }
    }

    // MARK: Conversion

    /// The tensor's values as `Float` (F32, F16, BF16 and F64), nil for other dtypes.
    public func floats(_ name: String) -> [Float]? {
        guard let info = tensors[name], ["F32", "F16", "BF16", "F64"].contains(info.dtype) else { return nil }
        let count = info.elementCount
        let start = dataStart + info.offsets.lowerBound
        // Converted once: the mapped pages can go back to the page cache right away, so loading
        // never holds the file and its fp32 copy in memory at the same time.
        defer { mapping?.release(start ..< start + info.offsets.count) }
        return bytes.withUnsafeBytes { raw -> [Float]? in
            let src = UnsafeRawBufferPointer(rebasing: raw[start ..< start + info.offsets.count])
            switch info.dtype {
            case "F32":
                return [Float](unsafeUninitializedCapacity: count) { out, n in
                    if let base = out.baseAddress, count > 0, let s = src.baseAddress { memcpy(base, s, count * 4) }
                    n = count
                }
            case "F16":
                return [Float](unsafeUninitializedCapacity: count) { out, n in
                    for i in 0..<count { out[i] = Self.halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                    n = count
                }
            case "BF16":
                return [Float](unsafeUninitializedCapacity: count) { out, n in
                    for i in 0..<count { out[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
                    n = count
                }
            case "F64":
                return (0..<count).map { Float(src.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
            default:
                return nil
            }
        }
    }

    /// IEEE half → single, exact (subnormals, infinities and NaN included).
    @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            let magnitude = Float(mantissa) * 5.9604644775390625e-8 // 2^-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}

// MARK: - Memory mapping

/// A read-only `mmap` of a whole file, unmapped when the last reference goes.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    private var mapped = true
    private let lock = NSLock()

    init(path: String) throws(SafetensorsError) {
        // Checked before `open`, which blocks on a FIFO; the `fstat` below catches a swap.
        do { try RegularFile.check(path) } catch { throw .unreadable(path: path, reason: error.reason) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ENOENT ? "file not found" : String(cString: strerror(errno))
            throw .unreadable(path: path, reason: reason)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .unreadable(path: path, reason: "not a regular file") }
        let size = Int(info.st_size)
        guard size >= 8 else { throw .tooShort(path: path, size: size) }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw .unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(pointer)
        count = size
    }

    /// Drops the resident pages wholly inside `range` (they are re-read from the file if touched).
    func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lower = (range.lowerBound + page - 1) / page * page
        let upper = range.upperBound / page * page
        guard upper > lower else { return }
        lock.lock()
        defer { lock.unlock() }
        if mapped { _ = madvise(UnsafeMutableRawPointer(mutating: base + lower), upper - lower, MADV_DONTNEED) }
    }

    func unmap() {
        lock.lock()
        defer { lock.unlock() }
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
            mapped = false
        }
    }

    deinit { unmap() }
}
