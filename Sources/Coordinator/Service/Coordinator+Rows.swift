import Foundation
import JobPlan
import JobProtocol
import JobStore
import NPY
import Platform

/// A leased unit's feature-file rows for its lease holder (`GET /v1/units/{unit}/rows`,
/// `UnitRowsWire`): leases carry no rows. Served outside the actor: the unit, its task and its
/// samples come from a read-only connection, the rows from the files (one `pread` per row) on
/// `BlockingIO`'s threads, copied as the file holds them (no conversion per value for float32
/// files). The files are checked against their digests first, as a lease checks them.
extension Coordinator {
    /// What a unit's rows reply is made of: which samples have a row, and where each comes from.
    /// `write` fills the body; the route writes it straight into its response buffer.
    public struct UnitRowsBody: Sendable {
        public let count: Int
        public let dimension: Int
        let sources: [(path: String, item: Int)?]
        let files: FeatureFileRows

        public var byteCount: Int { UnitRowsWire.byteCount(count: count, dimension: dimension, present: sources.count { $0 != nil }) }

        /// Fills `out` (`byteCount` bytes). Reads the files: call it off the cooperative pool.
        ///
        /// Every row was readable when the body was planned (`unitRows`). One that cannot be read
        /// now (the file was truncated or replaced in between) throws `inputChanged` naming the
        /// file and row: the body is never sent with a hole in it, and the caller fails the unit
        /// as a changed input fails it (`rowsUnreadable`).
        public func write(into out: UnsafeMutableRawBufferPointer) throws(StoreError) {
            var unreadable: String?
            UnitRowsWire.write(count: count, dimension: dimension, present: sources.map { $0 != nil }, into: out) { i, destination in
                guard let (path, item) = sources[i] else { return }
                if (try? files.copyRowBytes(path, item: item, into: destination)) != true {
                    unreadable = unreadable ?? "\(path): row \(item) could not be read; the file changed since submission"
                }
            }
            if let unreadable { throw .inputChanged(unreadable) }
        }

        /// The whole body (in-process callers and tests).
        public func encoded() throws(StoreError) -> Data {
            var data = Data(count: byteCount)
            var failure: StoreError?
            data.withUnsafeMutableBytes { out in
                do throws(StoreError) { try write(into: out) } catch { failure = error }
            }
            if let failure { throw failure }
            return data
        }
    }

    /// The rows of `unit` for `worker`, who must hold its lease under `attempt`: a unit that
    /// does not exist is `unknownUnit` (404); one not leased (pending, done, failed, cancelled),
    /// leased by another worker or under another attempt is `notLeaseHolder` (409), and nothing
    /// is read. A task whose feature file changed since submission fails the unit at once
    /// (`inputChanged`, 409, naming the file), as a lease would.
    public nonisolated func unitRows(unit id: Int64, worker: String, attempt: Int) async throws(StoreError) -> UnitRowsBody {
        let (unit, task, samples) = try await read { r throws(StoreError) -> (UnitRecord, TaskRecord?, (sets: [Int], items: [Int], labels: [Int])?) in
            guard let unit = try r.unit(id: id) else { throw .unknownUnit(id) }
            guard unit.state == .leased, unit.leaseOwner == worker, unit.attempts == attempt else { return (unit, nil, nil) }
            return (unit, try r.task(id: unit.task), try r.samples(task: unit.task, first: unit.firstSample, count: unit.sampleCount))
        }
        guard let samples else { throw .notLeaseHolder(unit: id, worker: worker) }
        guard let task else { throw .unknownTask(unit.task) }
        let plan = try await knownPlan(job: task.job)
        let files = plan.recordedFeatureFiles(sets: [0, task.oodIndex])
        do {
            try await InputDigests.shared.verify(files)
        } catch {
            _ = try await failUnchecked(unit: id, worker: worker, error: "\(error)")
            throw .inputChanged("\(error)")
        }
        for file in files { try? featureFiles.refresh(file.path) }
        let readers = featureFiles, d = plan.dimension, log = logger
        // Opening a file's reader maps it and reads its header: on `BlockingIO`'s threads.
        let sources = await BlockingIO.run { () -> [(path: String, item: Int)?] in
            var unreadable: String?
            let sources = samples.sets.indices.map { i -> (path: String, item: Int)? in
                let set = samples.sets[i], item = samples.items[i]
                guard set >= 0, set < plan.sets.count, let path = plan.sets[set].features else { return nil }
                do {
                    let reader = try readers.reader(path)
                    guard reader.cols == d, item >= 0, item < reader.rows else {
                        unreadable = unreadable ?? "\(path): no row \(item) of \(d) values"
                        return nil
                    }
                    return (path, item)
                } catch {
                    unreadable = unreadable ?? "\(path): \(error)"
                    return nil
                }
            }
            if let unreadable {
                log.warning("feature rows left out of a unit's rows (its worker reads its own copy)", metadata: ["reason": "\(unreadable.loggable)"])
            }
            return sources
        }
        return UnitRowsBody(count: samples.sets.count, dimension: d, sources: sources, files: readers)
    }

    /// A row that could be read when the body was planned could not be read when it was
    /// written (`UnitRowsBody.write` threw): the unit fails as a changed input fails it at a
    /// lease, and the lease holder gets `error` (409, naming the file and row).
    public func rowsUnreadable(unit: Int64, worker: String, _ error: StoreError) throws(StoreError) -> Never {
        if case let .inputChanged(message) = error { _ = try failUnchecked(unit: unit, worker: worker, error: message) }
        throw error
    }
}
