import JobProtocol
import Foundation
import NPY
import TensorCore

/// The rows of a plan's feature files as every reader needs them — the worker scoring a unit,
/// the coordinator rebuilding a bank and serving a leased unit's rows, the sequential re-score:
/// read on demand (`NPYRowReader`, one `pread` per row) and normalised once by `UnitNorm`
/// (`normalized`), so all see the same bits. One reader per file, opened on first use. Safe to
/// share between threads (the coordinator reads a unit's rows outside its actor).
public final class FeatureFileRows: @unchecked Sendable {
    private let lock = NSLock()
    private var readers: [String: (reader: NPYRowReader, identity: FileIdentity?)] = [:]

    public init() {}

    /// The file's reader (for its shape), opened once.
    public func reader(_ path: String) throws(NPYError) -> NPYRowReader {
        if let open = lock.withLock({ readers[path] }) { return open.reader }
        return try open(path)
    }

    /// Re-opens `path`'s reader when the file is no longer the one it opened (replaced or
    /// rewritten since): called after the file was checked against its recorded digest, so the
    /// rows read next come from the version that was checked.
    public func refresh(_ path: String) throws(NPYError) {
        let current = try? FileIdentity.of(path)
        guard let open = lock.withLock({ readers[path] }), open.identity != current else { return }
        _ = try self.open(path)
    }

    private func open(_ path: String) throws(NPYError) -> NPYRowReader {
        let identity = try? FileIdentity.of(path)
        let reader = try NPYRowReader(path: path)
        lock.withLock { readers[path] = (reader, identity) }
        return reader
    }

    /// Row `item` of `path`, normalised; nil when the file has no such row. A row holding NaN
    /// or ±∞ throws `NPYError.nonFiniteRow`: that sample's error, never a value to score or send.
    public func normalizedRow(_ path: String, item: Int) throws(NPYError) -> [Float]? {
        guard let row = try reader(path).row(item) else { return nil }
        return try Self.normalized(row, path: path, item: item)
    }

    /// Row `item` of `path` as the file holds it, as little-endian float32 bytes (not
    /// normalised, not checked): what the coordinator sends a lease holder, who checks and
    /// normalises it with `normalized`. False when the file has no such row.
    public func copyRowBytes(_ path: String, item: Int, into out: UnsafeMutableRawBufferPointer) throws(NPYError) -> Bool {
        try reader(path).copyRowBytes(item, into: out)
    }

    /// Row `item` of `path` as the file holds it, checked and normalised: a row holding NaN or
    /// ±∞ throws `NPYError.nonFiniteRow`, naming `path` and `item`. The one step between a row
    /// and a score, whether the row was read here (`normalizedRow`) or received from the
    /// coordinator, so both give the same bits and the same errors.
    public static func normalized(_ row: [Float], path: String, item: Int) throws(NPYError) -> [Float] {
        guard row.allSatisfy(\.isFinite) else { throw .nonFiniteRow(path: path, row: item) }
        var row = row
        UnitNorm.normalize(&row)
        return row
    }

    /// Copies row `item` of `path`, normalised, into `out` (the file's width); false when the
    /// file has no such row. A non-finite row throws `NPYError.nonFiniteRow`.
    public func copyNormalizedRow(_ path: String, item: Int, into out: UnsafeMutableBufferPointer<Float>) throws(NPYError) -> Bool {
        guard try reader(path).copyRow(item, into: out) else { return false }
        guard out.allSatisfy(\.isFinite) else { throw .nonFiniteRow(path: path, row: item) }
        UnitNorm.normalize(out)
        return true
    }
}
