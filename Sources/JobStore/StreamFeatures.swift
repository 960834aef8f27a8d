import AdaNegCore
import Foundation
import JobPlan
import JobProtocol
import NPY
import TensorCore

/// A task's stored features in stream order, for scoring it again as one sequential stream
/// (`report --compare-sequential`, the other proxy): the samples that have a feature, with
/// their stream positions and labels, and the samples that do not, with why.
public struct StreamFeatures: Sendable {
    /// Rows in stream order, L2-normalised (`UnitNorm`); one per entry of `positions`.
    public var features: Matrix
    /// Stream position of each row, increasing.
    public var positions: [Int]
    /// ID class or −1, per row.
    public var labels: [Int]
    /// Positions without a feature: the image could not be read, or was never embedded.
    public var missing: [(position: Int, reason: String)]
}

extension StoreReader {
    /// Reads a task's features: rows of the sets' `.npy` files, or the stored features of
    /// image sets under the job's model.
    public func streamFeatures(task id: Int64) throws(StoreError) -> StreamFeatures {
        guard let task = try task(id: id) else { throw .unknownTask(id) }
        let plan = try plan(job: task.job)
        let stream = try stream(task: id)
        let d = plan.dimension
        var storage = [Float]()
        storage.reserveCapacity(stream.sets.count * d)
        var positions = [Int](), labels = [Int]()
        var missing = [(position: Int, reason: String)]()
        // The rows as submitted or none: a file that changed since would be scored under the
        // name of the set it replaced.
        do {
            try InputDigests.shared.verifyNow(plan.recordedFeatureFiles(sets: Set(stream.sets)))
        } catch {
            throw .inputChanged("task \(id) (\(task.oodName)): \(error)")
        }
        let files = FeatureFileRows()
        for p in 0..<stream.sets.count {
            let set = stream.sets[p], item = stream.items[p]
            guard set >= 0, set < plan.sets.count else { missing.append((p, "set \(set) is not in the plan")); continue }
            let source = plan.sets[set]
            var row: [Float]?
            if let path = source.features {
                do {
                    row = try files.normalizedRow(path, item: item)
                } catch NPYError.nonFiniteRow {
                    // Scored as that sample's error by the worker: left out here too.
                    missing.append((p, NPYError.nonFiniteRow(path: path, row: item).description))
                    continue
                } catch {
                    throw .database(path: path, message: "\(path): \(error)")
                }
                if row == nil { missing.append((p, "\(path): no row \(item)")); continue }
            } else if source.isImages, let model = plan.model {
                let stored = try feature(job: task.job, set: set, item: item, model: model.featureKey)
                if let error = stored.error { missing.append((p, error)); continue }
                // Stored normalised: the vector the worker scored.
                row = stored.vector
                if row == nil { missing.append((p, "not embedded")); continue }
            }
            guard let feature = row, feature.count == d else { missing.append((p, "no \(d)-dimensional feature")); continue }
            storage += feature
            positions.append(p)
            labels.append(stream.labels[p])
        }
        // Each row normalised as the worker that scored it had it, so a sequential re-score
        // sees bit-identical inputs.
        let features = Matrix(rows: positions.count, cols: d, storage: storage)
        return StreamFeatures(features: features, positions: positions, labels: labels, missing: missing)
    }
}
