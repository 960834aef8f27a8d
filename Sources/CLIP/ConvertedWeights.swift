import Foundation
import Platform
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// A model's weights converted once for a precision (Q, K and V fused, the product weights in
/// the precision, everything else fp32) and kept as a safetensors file in a cache folder, so
/// that every later load maps it instead of converting again, and every local worker maps the
/// same file: the page cache holds one copy of the weights however many workers run.
///
/// Entries are keyed by the model directory's real path and its files' sizes, modification
/// times and inodes, plus the precision. Each records its data length and a checksum of its
/// data section, verified on every load: a truncated or corrupt entry is rebuilt, never used.
/// Builds take an exclusive `flock`, so workers starting together convert once.
public enum ConvertedWeights {
    /// 2: product weights also stored packed for oneDNN (`PackedCache`).
    static let formatVersion = "2"

    public enum CacheError: Error, CustomStringConvertible {
        case unwritable(path: String, reason: String)
        public var description: String {
            switch self {
            case let .unwritable(path, reason): "cannot write the converted-weights cache \(path): \(reason)"
            }
        }
    }

    /// `ADANEG_CACHE_DIR`, else `$XDG_CACHE_HOME/adaneg`, else `~/.cache/adaneg`; plus `weights/`.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        CacheFolder.base(environment: environment).appendingPathComponent("weights")
    }

    /// The cache folder the commands use: `defaultRoot()`, or nil when `ADANEG_WEIGHT_CACHE=off`.
    public static func configuredRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let switchValue = environment["ADANEG_WEIGHT_CACHE"]?.lowercased(), ["off", "0", "no", "false"].contains(switchValue) { return nil }
        return defaultRoot(environment: environment)
    }

    /// What `prepare` did, for logs and tests.
    public enum Outcome: Equatable, Sendable {
        case reused
        case built
        /// The entry was there but failed its checks (the reason), and was rebuilt.
        case rebuilt(reason: String)
    }

    /// The path of the converted checkpoint of `directory` in `precision` under `root`, built
    /// (or rebuilt) first when needed.
    public static func prepare(directory: String, precision: Precision, root: URL) throws -> (path: String, outcome: Outcome) {
        let source = URL(fileURLWithPath: directory).appendingPathComponent(CLIPModel.weightsFile).path
        let key = try sourceKey(directory: directory)
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw CacheError.unwritable(path: root.path, reason: error.localizedDescription)
        }
        let path = root.appendingPathComponent("\(key)-\(precision.rawValue).safetensors").path
        // One process converts, the others wait and then map its result.
        let lock: FileLock
        do { lock = try FileLock.waiting(on: path + ".lock") } catch { throw CacheError.unwritable(path: path + ".lock", reason: error.description) }
        defer { lock.release() }

        var outcome = Outcome.built
        if FileManager.default.fileExists(atPath: path) {
            if let problem = check(path: path, key: key, precision: precision) {
                outcome = .rebuilt(reason: problem)
                try? FileManager.default.removeItem(atPath: path)
            } else {
                return (path, .reused)
            }
        }
        try build(from: try SafetensorsFile(path: source), precision: precision, key: key, to: path)
        return (path, outcome)
    }

    // MARK: Keys and checks

    /// Identifies the checkpoint cheaply (no read of the weights): real path, sizes,
    /// modification times and inodes of `config.json` and `model.safetensors`.
    static func sourceKey(directory: String) throws -> String {
        var parts = [URL(fileURLWithPath: directory).resolvingSymlinksInPath().path, formatVersion]
        for name in [CLIPModel.configFile, CLIPModel.weightsFile] {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw CheckpointError.missingFile(path: path, what: name == CLIPModel.configFile ? "CLIP config" : "CLIP weights")
            }
            parts.append("\(name):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_ino)")
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in parts.joined(separator: "\n").utf8 { hash = ModelChecksum.mix(hash, UInt64(byte)) }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    /// Why the entry at `path` cannot be used, or nil when it is sound.
    static func check(path: String, key: String, precision: Precision) -> String? {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { return "\(error)" }
        let m = file.metadata
        guard m["adaneg_cache_version"] == formatVersion else { return "format version \(m["adaneg_cache_version"] ?? "none")" }
        guard m["adaneg_source"] == key, m["adaneg_precision"] == precision.rawValue else { return "made for another checkpoint or precision" }
        guard m["adaneg_packing"] == PackedCache.expectedSignature(of: file) else {
            return "weights packed for another oneDNN or CPU kernel"
        }
        // Read, not through the mapping: the check's pages then stay in the page cache instead of
        // counting in this process's resident memory (a text-only run maps a fraction of the
        // file; hashing through the mapping made its peak RSS the whole file, 1.1 GB in fp32).
        guard let data = dataHash(path: path, from: file.dataOffset) else { return "unreadable while checking its data" }
        let (length, hash) = data
        guard m["adaneg_data_length"] == String(length) else { return "data length \(length), recorded \(m["adaneg_data_length"] ?? "none")" }
        guard m["adaneg_data_hash"] == hash else { return "data checksum \(hash), recorded \(m["adaneg_data_hash"] ?? "none")" }
        return nil
    }

    /// FNV-1a over 64-bit little-endian words (the tail byte-wise), as `ModelChecksum` hashes, of
    /// the bytes of `path` from `offset` to its end, read in 8 MiB chunks (every chunk but the
    /// last is a whole number of words), and their count; nil when the file cannot be read.
    static func dataHash(path: String, from offset: Int) -> (length: Int, hash: String)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let capacity = 8 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        guard let base = buffer.baseAddress else { return nil }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var position = offset
        var length = 0
        while true {
            // Fill the chunk (pread may return less than asked before the end of the file).
            var filled = 0
            while filled < capacity {
                let n = pread(fd, base + filled, capacity - filled, off_t(position + filled))
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { return nil }
                if n == 0 { break }
                filled += n
            }
            let raw = UnsafeRawBufferPointer(rebasing: buffer[..<filled])
            let words = filled / 8
            for w in 0..<words { h = ModelChecksum.mix(h, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self))) }
            for b in (words * 8)..<filled { h = ModelChecksum.mix(h, UInt64(raw[b])) }
            length += filled
            position += filled
            if filled < capacity { return (length, String(h, radix: 16)) }
        }
    }

    // MARK: Building

    /// One tensor of the converted file: its name, dtype, shape and how to produce its bytes.
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: () throws -> Data
        var byteCount: Int { shape.reduce(1, *) * (dtype == "BF16" ? 2 : dtype == "U8" ? 1 : 4) }
    }

    /// The tensors of the converted file; with `packing`, each product weight's packed blocks too.
    static func entries(of file: SafetensorsFile, precision: Precision, packing: Bool) throws -> [Entry] {
        let weightType = precision == .fp32 ? "F32" : "BF16"
        func floats(_ name: String) throws -> [Float] {
            guard let values = file.floats(name) else {
                throw CheckpointError.unsupportedDType(name: name, file: file.path, dtype: file.tensors[name]?.dtype ?? "?")
            }
            return values
        }
        func encode(_ values: [Float], as dtype: String) -> Data {
            if dtype == "BF16" { return BFloat16.convert(values).withUnsafeBufferPointer { Data(buffer: $0) } }
            return values.withUnsafeBufferPointer { Data(buffer: $0) }
        }
        var out: [Entry] = []
        for (name, info) in file.tensors.sorted(by: { $0.key < $1.key }) {
            // Integer tensors (position ids) are not read by the towers.
            guard ["F32", "F16", "BF16", "F64"].contains(info.dtype) else { continue }
            if name.contains(".self_attn.k_proj.") || name.contains(".self_attn.v_proj.") { continue }
            if name.contains(".self_attn.q_proj.") {
                let fused = name.replacingOccurrences(of: ".self_attn.q_proj.", with: "." + CheckpointNames.fusedQKV + ".")
                let parts = ["q_proj", "k_proj", "v_proj"].map { name.replacingOccurrences(of: ".q_proj.", with: ".\($0).") }
                let isWeight = name.hasSuffix(".weight")
                var shape = info.shape
                if !shape.isEmpty { shape[0] *= 3 }
                let dtype = isWeight ? weightType : "F32"
                let bytes = { () throws -> Data in
                    var all: [Float] = []
                    for part in parts { all += try floats(part) }
                    return encode(all, as: dtype)
                }
                out.append(Entry(name: fused, dtype: dtype, shape: shape, bytes: bytes))
                if packing { out += packedEntries(fused, shape: shape, dtype: dtype, bytes: bytes) }
                continue
            }
            let dtype = CheckpointNames.isProductWeight(name) ? weightType : "F32"
            let bytes = { () throws -> Data in encode(try floats(name), as: dtype) }
            out.append(Entry(name: name, dtype: dtype, shape: info.shape, bytes: bytes))
            if packing { out += packedEntries(name, shape: info.shape, dtype: dtype, bytes: bytes) }
        }
        return out
    }

    /// The packed blocks of one product weight (`PackedCache`), each computed from the plain
    /// bytes when written.
    static func packedEntries(_ name: String, shape: [Int], dtype: String, bytes: @escaping () throws -> Data) -> [Entry] {
        guard shape.count == 2 else { return [] }
        let element: MatmulOperand.Element = dtype == "BF16" ? .bf16 : .f32
        return PackedCache.blocks(of: name, rows: shape[0]).compactMap { block in
            guard let layout = OneDNNMatmul.shared.packedLayout(n: block.count, k: shape[1], element: element) else { return nil }
            return Entry(name: PackedCache.tensorName(name, block), dtype: "U8", shape: [layout.byteCount]) {
                guard let packed = PackedCache.pack(try bytes(), cols: shape[1], block: block, element: element) else {
                    throw CacheError.unwritable(path: name, reason: "oneDNN could not pack rows \(block) of \(name)")
                }
                return packed
            }
        }
    }

    /// Writes the converted checkpoint to a temporary file next to `path`, then renames it into
    /// place, so a reader never sees half a file. Tensors start on 64-byte boundaries (padding
    /// tensors fill the gaps, as safetensors allows no holes).
    static func build(from file: SafetensorsFile, precision: Precision, key: String, to path: String) throws {
        // A weight that is not finite is refused here, naming the checkpoint it is in (the
        // model's own file, not this cache), before anything is written.
        for name in file.tensors.keys.sorted() {
            if let (index, value) = file.firstNonFinite(name) { throw CheckpointError.nonFinite(name: name, file: file.path, index: index, value: value) }
        }
        // Packed only where every block shape has a packed layout here (the signature says which).
        let weightType = precision == .fp32 ? "F32" : "BF16"
        var planned: [(name: String, shape: [Int], dtype: String)] = []
        for (name, info) in file.tensors where CheckpointNames.isProductWeight(name) {
            var shape = info.shape
            var plannedName = name
            if name.contains(".self_attn.q_proj.") {
                plannedName = name.replacingOccurrences(of: ".self_attn.q_proj.", with: "." + CheckpointNames.fusedQKV + ".")
                if !shape.isEmpty { shape[0] *= 3 }
            } else if name.contains(".self_attn.k_proj.") || name.contains(".self_attn.v_proj.") {
                continue
            }
            planned.append((plannedName, shape, weightType))
        }
        let packing = PackedCache.signature(PackedCache.shapes(planned)) ?? ""
        let items = try entries(of: file, precision: precision, packing: !packing.isEmpty)
        // Layout first (sizes come from shapes), then stream the bytes.
        var header: [String: Any] = [:]
        var plan: [(entry: Entry?, padding: Int)] = []
        var offset = 0
        for (index, entry) in items.enumerated() {
            let pad = (64 - offset % 64) % 64
            if pad > 0 {
                header["__adaneg_pad_\(index)"] = ["dtype": "U8", "shape": [pad], "data_offsets": [offset, offset + pad]]
                plan.append((nil, pad))
                offset += pad
            }
            header[entry.name] = ["dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.byteCount]]
            plan.append((entry, 0))
            offset += entry.byteCount
        }
        let temporary = path + ".tmp-\(getpid())"
        FileManager.default.createFile(atPath: temporary, contents: nil)
        guard let out = FileHandle(forWritingAtPath: temporary) else { throw CacheError.unwritable(path: temporary, reason: "cannot create") }
        var removeTemporary = true
        defer {
            try? out.close()
            if removeTemporary { try? FileManager.default.removeItem(atPath: temporary) }
        }
        // The data checksum is only known after the data; the header is written last, into
        // a reserved, space-padded region of fixed size.
        let reserve = 64 * ((try headerBytes(header, metadata: metadata(key: key, precision: precision, length: offset, hash: String(repeating: "f", count: 16), packing: packing)).count + 64 + 63) / 64)
        var hasher = StreamingHash()
        do {
            try out.seek(toOffset: UInt64(8 + reserve))
            for step in plan {
                let data: Data
                if let entry = step.entry { data = try entry.bytes() } else { data = Data(count: step.padding) }
                hasher.add(data)
                try out.write(contentsOf: data)
            }
            var json = try headerBytes(header, metadata: metadata(key: key, precision: precision, length: offset, hash: hasher.hex, packing: packing))
            guard json.count <= reserve else { throw CacheError.unwritable(path: temporary, reason: "header larger than reserved") }
            json.append(contentsOf: [UInt8](repeating: 0x20, count: reserve - json.count))
            var length = UInt64(reserve).littleEndian
            try out.seek(toOffset: 0)
            try out.write(contentsOf: Data(bytes: &length, count: 8))
            try out.write(contentsOf: json)
            try out.synchronize()
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError.unwritable(path: temporary, reason: error.localizedDescription)
        }
        guard rename(temporary, path) == 0 else { throw CacheError.unwritable(path: path, reason: String(cString: strerror(errno))) }
        removeTemporary = false
    }

    static func metadata(key: String, precision: Precision, length: Int, hash: String, packing: String) -> [String: String] {
        ["adaneg_cache_version": formatVersion, "adaneg_source": key, "adaneg_precision": precision.rawValue,
         "adaneg_data_length": String(length), "adaneg_data_hash": hash, "adaneg_packing": packing]
    }

    static func headerBytes(_ tensors: [String: Any], metadata: [String: String]) throws -> Data {
        var object = tensors
        object["__metadata__"] = metadata
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// `dataHash` computed over chunks as they are written: the same words, carried across chunk
    /// boundaries.
    struct StreamingHash {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var pending: [UInt8] = []

        mutating func add(_ data: Data) {
            var bytes = pending + [UInt8](data)
            let words = bytes.count / 8
            bytes.withUnsafeBytes { raw in
                for w in 0..<words { h = ModelChecksum.mix(h, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self))) }
            }
            bytes.removeFirst(words * 8)
            pending = bytes
        }

        var hex: String {
            var x = h
            for b in pending { x = ModelChecksum.mix(x, UInt64(b)) }
            return String(x, radix: 16)
        }
    }
}
