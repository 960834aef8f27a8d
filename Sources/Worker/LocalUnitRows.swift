import Foundation
import JobPlan
import JobProtocol
import NPY
import Platform

/// Where a worker takes a leased unit's feature-file rows from (`--rows`).
public enum RowsSource: String, CaseIterable, Sendable {
    /// This machine's copy of each feature file when it holds the content recorded at
    /// submission; otherwise (missing, different, no digest recorded) the coordinator's rows
    /// route, logged once per file.
    case auto
    /// Only this machine's copies: a unit whose copy is missing or different fails, naming the file.
    case local
    /// Always the coordinator's rows route (`GET /v1/units/{unit}/rows`).
    case coordinator

    /// The value of `--rows`, or why it is not one (the message names the flag).
    public static func parse(_ text: String, flag: String = "--rows") throws(RowsSourceError) -> RowsSource {
        guard let source = RowsSource(rawValue: text) else { throw RowsSourceError(flag: flag, value: text) }
        return source
    }
}

/// A `--rows` value that is none of `RowsSource`'s.
public struct RowsSourceError: Error, CustomStringConvertible {
    public var flag: String
    public var value: String
    public var description: String {
        "\(flag) must be " + RowsSource.allCases.map(\.rawValue).joined(separator: ", ") + " (got '\(TerminalText.escaped(String(value.prefix(40))))')"
    }
}

/// A leased unit's feature-file rows read from this machine's copies of the files, so a worker
/// that has the data (on the coordinator's machine, or a shared file system) does not fetch
/// them from the coordinator: at 1,000 workers the rows are gigabytes per wave of leases
/// (docs/capacity.md). Each file is checked first against the digest recorded at submission
/// (`InputDigests.shared`: hashed once per process, later a `stat`), and the rows are the
/// file's values as float32, copied by the same `NPYRowReader.copyRowBytes` the coordinator's
/// route uses, so the worker normalises (`FeatureFileRows.normalized`) and scores the same bits
/// either way. One per process, shared by the worker's units (the scale simulator shares one
/// among its simulated workers, which run on the coordinator's machine).
public final class LocalUnitRows: @unchecked Sendable {
    public let source: RowsSource
    let files: FeatureFileRows
    let digests: InputDigests
    /// Called once per file that `auto` could not use (the reason names the path).
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var logged = Set<String>()
    private var counts = (local: 0, coordinator: 0)
    /// Checks in progress, one per file and recorded digest: the units that need a file not
    /// hashed yet wait for the one hash instead of each parking a thread on it (a fleet's
    /// first units all arrive at once).
    private var checking: [String: Task<Void, any Error>] = [:]

    public init(source: RowsSource, files: FeatureFileRows = FeatureFileRows(), digests: InputDigests = .shared,
                log: @escaping @Sendable (String) -> Void) {
        self.source = source
        self.files = files
        self.digests = digests
        self.log = log
    }

    /// Units whose rows were read here, and units left to the coordinator's route.
    public var unitsRead: (local: Int, coordinator: Int) { lock.withLock { counts } }

    /// The rows of a unit whose samples are `items` of `sets`, from this machine's copies, as
    /// the coordinator's route would send them (raw float32, not normalised; a row the file
    /// lacks is left out, as the route leaves it out); nil when they are to come from the
    /// coordinator: `--rows coordinator`, or under `auto` a copy that is missing, differs from
    /// the recorded content, or has no recorded digest to check it by. Under `local` those
    /// throw `WorkerError.input` naming the file.
    public func rows(sets: [Int], items: [Int], plan: WorkPlan) async throws -> UnitRows? {
        guard source != .coordinator else { return count(nil) }
        var files = [(path: String, digest: ArtefactDigest)]()
        for set in Set(sets).sorted() where set >= 0 && set < plan.sets.count {
            guard let path = plan.sets[set].features else { continue }
            guard let digest = plan.recordedDigest(of: path) else {
                return try count(unusable(path, "\(path): no content digest was recorded for it at submission, so this machine's copy cannot be checked"))
            }
            files.append((path, digest))
        }
        guard !files.isEmpty else { return count(nil) }
        // The identity each file had when it was checked: the rows are kept only if the file
        // is still that version after they were read (not rewritten or replaced meanwhile).
        var checked = [String: FileIdentity]()
        for file in files.sorted(by: { $0.path < $1.path }) {
            do {
                let before = try FileIdentity.of(file.path)
                try await verify(file.path, recorded: file.digest)
                checked[file.path] = before
            } catch {
                return try count(unusable(file.path, "\(error)"))
            }
        }
        let read = try await BlockingIO.run { [self] () throws -> UnitRows in
            try self.read(sets: sets, items: items, plan: plan)
        }
        for (path, identity) in checked.sorted(by: { $0.key < $1.key }) where (try? FileIdentity.of(path)) != identity {
            return try count(unusable(path, "\(path) changed while its rows were read"))
        }
        return count(read)
    }

    /// `InputDigests.verify`, one at a time per file and digest.
    private func verify(_ path: String, recorded: ArtefactDigest) async throws {
        let key = path + "\u{0}" + recorded.sha256
        let check = lock.withLock { () -> Task<Void, any Error> in
            if let running = checking[key] { return running }
            let digests = self.digests
            let task = Task { try await digests.verify(path, recorded: recorded) }
            checking[key] = task
            return task
        }
        defer { lock.withLock { if checking[key] == check { checking[key] = nil } } }
        try await check.value
    }

    /// The rows, read with one `pread` per row into place.
    private func read(sets: [Int], items: [Int], plan: WorkPlan) throws -> UnitRows {
        let d = plan.dimension
        var readers = [String: NPYRowReader]()
        for path in Set(sets.compactMap { $0 >= 0 && $0 < plan.sets.count ? plan.sets[$0].features : nil }) {
            do {
                try files.refresh(path)
                let reader = try files.reader(path)
                guard reader.cols == d else { throw WorkerError.input("\(path): \(reader.cols) columns, the plan expects \(d)") }
                readers[path] = reader
            } catch let error as NPYError {
                throw WorkerError.input("\(path): \(error)")
            }
        }
        var rowIndex = [Int?](repeating: nil, count: sets.count)
        var present = 0
        // Not zeroed first: every value kept is a row read into place (a unit's rows are
        // megabytes, and zeroing them was as much work as reading them).
        let values = [Float](unsafeUninitializedCapacity: sets.count * d) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            for i in 0..<min(sets.count, items.count) {
                let set = sets[i]
                guard set >= 0, set < plan.sets.count, let path = plan.sets[set].features, let reader = readers[path] else { continue }
                let destination = UnsafeMutableRawBufferPointer(rebasing: out[present * d * 4 ..< (present + 1) * d * 4])
                if reader.copyRowBytes(items[i], into: destination) {
                    rowIndex[i] = present
                    present += 1
                }
            }
            initialized = present * d
        }
        return UnitRows(dimension: d, rowIndex: rowIndex, values: values)
    }

    /// A copy that cannot be used: `local` fails the unit naming the file; `auto` logs it once
    /// and leaves the rows to the coordinator.
    /// `reason` names the file.
    private func unusable(_ path: String, _ reason: String) throws -> UnitRows? {
        if source == .local {
            throw WorkerError.input("--rows local: \(reason)")
        }
        let first = lock.withLock { logged.insert(path).inserted }
        if first { log("--rows auto: \(reason); reading \(path)'s rows from the coordinator instead") }
        return nil
    }

    private func count(_ rows: UnitRows?) -> UnitRows? {
        lock.withLock {
            if rows == nil { counts.coordinator += 1 } else { counts.local += 1 }
        }
        return rows
    }
}
