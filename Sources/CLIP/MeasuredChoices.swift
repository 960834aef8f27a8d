import Foundation
import Platform
import Tensor

/// Speed choices measured once per machine and kept in a small file next to the converted
/// weights (`ConvertedWeights.defaultRoot()`), so later runs use the measurement instead of a
/// default picked on another CPU.
///
/// Only choices that change no bit of any output are measured: a measurement depends on how
/// loaded the machine was when it was taken, and results must not. Today that is the text
/// tower's chunk size (`TextTransformer.chunkRowsChoice`, tested bit for bit). Precision and the
/// image batch size change the features' last bits, so they stay rules and flags
/// (BENCHMARKS.md, "Per-CPU choices by measurement").
///
/// The file is keyed by the machine (`machineKey`: CPU model, its ISA features, the kernels
/// oneDNN and OpenBLAS pick here and their versions): one file per key, named by its hash, so
/// machines sharing a cache folder keep separate files. It holds a checksum of its entries; a
/// file that does not parse, has another format, names another machine or fails its checksum is
/// reported, measured again and replaced, never trusted. Writes go to a temporary file renamed
/// into place; measurements run under an exclusive lock, so processes starting together measure
/// once.
public struct ChoiceCache: Sendable {
    static let formatVersion = 1

    /// What one measurement found: the time of each candidate (the best of the rounds).
    public struct Measurement: Codable, Sendable, Equatable {
        public var candidates: [Int]
        public var seconds: [Double]
        /// The candidate with the least time.
        public var best: Int
        /// What was measured (element, shape, threads), for `doctor`.
        public var scope: String
        /// When (ISO 8601, UTC).
        public var measuredAt: String

        public init(candidates: [Int], seconds: [Double], scope: String, measuredAt: Date = Date()) {
            self.candidates = candidates
            self.seconds = seconds
            let order = zip(candidates, seconds).min { ($0.1, $0.0) < ($1.1, $1.0) }
            best = order?.0 ?? candidates.first ?? 0
            self.scope = scope
            self.measuredAt = ISO8601DateFormatter().string(from: measuredAt)
        }
    }

    /// Why a cache file was not used.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case unreadable(reason: String)
        case malformed
        case wrongFormat(Int)
        case foreign(machine: String)
        case checksum

        public var description: String {
            switch self {
            case let .unreadable(reason): "unreadable (\(reason))"
            case .malformed: "not a choices file (truncated or corrupt)"
            case let .wrongFormat(found): "format \(found), expected \(ChoiceCache.formatVersion)"
            case let .foreign(machine): "measured on another machine or library (\(machine))"
            case .checksum: "its checksum does not match its entries (corrupt)"
            }
        }
    }

    /// The file as stored: the entries as JSON text, so the checksum covers exactly the bytes read.
    struct Stored: Codable {
        var format: Int
        var machine: String
        var entries: String
        var checksum: String
    }

    public let folder: URL
    public let machineKey: String

    public init(folder: URL, machineKey: String = ChoiceCache.machineKey()) {
        self.folder = folder
        self.machineKey = machineKey
    }

    /// `cpu-choices-<hash of the machine key>.json` in the folder.
    public var path: String {
        folder.appendingPathComponent("cpu-choices-\(Self.hash(machineKey)).json").path
    }

    /// This machine as far as a speed measurement goes: CPU vendor and model, the ISA features
    /// adaneg reads, and the kernels (with versions) oneDNN and OpenBLAS pick here, which also
    /// reflect `ONEDNN_MAX_CPU_ISA` / `OPENBLAS_CORETYPE`.
    public static func machineKey(features: CPUFeatures = .current, kernels: KernelChoices = .current()) -> String {
        ["cpu \(features.vendor) \(features.brand)", "isa \(features.names.joined(separator: " "))",
         "fp32 \(kernels.fp32Products)", "bf16 \(kernels.bf16Products)", "blas \(BLAS.configuration) \(BLAS.coreName)"]
            .joined(separator: "; ")
    }

    static func hash(_ text: String) -> String {
        let h = text.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ModelChecksum.mix($0, UInt64($1)) }
        return String(h, radix: 16).leftPadded(to: 16)
    }

    // MARK: Reading and writing

    /// The file's entries, or why it cannot be used (a missing file is no entries, no problem).
    public func load() -> Result<[String: Measurement], Problem> {
        guard FileManager.default.fileExists(atPath: path) else { return .success([:]) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { return .failure(.unreadable(reason: error.localizedDescription)) }
        guard let stored = try? JSONDecoder().decode(Stored.self, from: data) else { return .failure(.malformed) }
        guard stored.format == Self.formatVersion else { return .failure(.wrongFormat(stored.format)) }
        guard stored.machine == machineKey else { return .failure(.foreign(machine: stored.machine)) }
        guard stored.checksum == Self.hash(stored.machine + "\n" + stored.entries) else { return .failure(.checksum) }
        guard let entries = try? JSONDecoder().decode([String: Measurement].self, from: Data(stored.entries.utf8)) else {
            return .failure(.malformed)
        }
        return .success(entries)
    }

    /// Writes `entries` whole: a temporary file in the folder, renamed into place.
    public func store(_ entries: [String: Measurement]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(entries), as: UTF8.self)
        let stored = Stored(format: Self.formatVersion, machine: machineKey, entries: text, checksum: Self.hash(machineKey + "\n" + text))
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temporary = path + ".tmp-\(getpid())"
        do {
            try encoder.encode(stored).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))]) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// The measurement kept under `entry`, or a new one from `measure` (taken under the file's
    /// lock, after reading the file again: another process may have just measured). A file
    /// that cannot be used is replaced. `problem` says why a file was not used; `stored` whether
    /// the measurement is in the file now.
    public func measurement(_ entry: String, measure: () -> Measurement) -> (value: Measurement, measuredNow: Bool, problem: Problem?, stored: Bool) {
        if case .success(let entries) = load(), let kept = entries[entry] { return (kept, false, nil, true) }
        var lock: FileLock?
        if (try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)) != nil {
            lock = try? FileLock.waiting(on: path + ".lock")
        }
        defer { lock?.release() }
        var entries: [String: Measurement] = [:]
        var problem: Problem?
        switch load() {
        case .success(let found):
            if let kept = found[entry] { return (kept, false, nil, true) }
            entries = found
        case .failure(let why):
            problem = why
        }
        let fresh = measure()
        entries[entry] = fresh
        let stored = (try? store(entries)) != nil
        return (fresh, true, problem, stored)
    }
}

/// A speed choice as the code makes it, and where its value came from (for `doctor`).
public struct MeasuredChoice: Codable, Sendable, Equatable {
    public enum Source: String, Codable, Sendable {
        /// Measured by this process (and kept in the cache file when it could be written).
        case measured
        /// Read from the cache file, measured by an earlier run on this machine.
        case cached
        /// An environment variable says which.
        case override
        /// No measurement: the built-in default (why in `detail`).
        case `default`
    }

    public var name: String
    public var value: Int
    public var source: Source
    public var detail: String
    public var measurement: ChoiceCache.Measurement?

    public init(name: String, value: Int, source: Source, detail: String, measurement: ChoiceCache.Measurement? = nil) {
        self.name = name
        self.value = value
        self.source = source
        self.detail = detail
        self.measurement = measurement
    }

    /// `doctor`'s line.
    public var line: String {
        var text = "\(name) \(value): \(source.rawValue)"
        if !detail.isEmpty { text += " (\(detail))" }
        if let m = measurement {
            let times = zip(m.candidates, m.seconds).map { String(format: "%d: %.3f s", $0, $1) }.joined(separator: ", ")
            text += "; measured \(m.measuredAt) over \(m.scope): \(times)"
        }
        return text
    }
}

/// Reads a positive whole-number override from the environment: the value, nil when unset, or
/// the reason it is ignored.
func positiveOverride(_ name: String, environment: [String: String]) -> Result<Int, OverrideProblem>? {
    guard let raw = environment[name] else { return nil }
    guard let value = Int(raw.trimmingCharacters(in: .whitespaces)), value > 0 else {
        return .failure(OverrideProblem(description: "\(name)='\(raw)' is not a positive whole number: ignored"))
    }
    return .success(value)
}

struct OverrideProblem: Error, Equatable, CustomStringConvertible {
    var description: String
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
