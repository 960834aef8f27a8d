import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// Image references and stored image features (schema version 2).
extension StoreReader {
    /// A stored feature or the error that stands in for it.
    public struct StoredFeature: Sendable {
        public var vector: [Float]?
        public var error: String?
    }

    /// The reference of each (set, item); nil for items of feature sets.
    public func refs(job: Int64, sets: [Int], items: [Int]) throws(StoreError) -> [String?] {
        let q = try db.prepare("SELECT ref FROM items WHERE job_id = ? AND set_index = ? AND item_index = ?")
        var out = [String?]()
        out.reserveCapacity(sets.count)
        for (set, item) in zip(sets, items) {
            try q.bind([.int(job), .int(Int64(set)), .int(Int64(item))])
            out.append(try q.step() ? q.text(0) : nil)
        }
        return out
    }

    /// Stored features for `refs` under `model`: nil where nothing is stored.
    public func features(model: String, refs: [String?]) throws(StoreError) -> [StoredFeature?] {
        let q = try db.prepare("SELECT vector, error FROM features WHERE model = ? AND ref = ?")
        var out = [StoredFeature?]()
        out.reserveCapacity(refs.count)
        for ref in refs {
            guard let ref else { out.append(nil); continue }
            try q.bind([.text(model), .text(ref)])
            out.append(try q.step() ? StoredFeature(vector: q.isNull(0) ? nil : Self.floats(q.blob(0)), error: q.text(1)) : nil)
        }
        return out
    }

    /// The stored feature of one item of an image set.
    public func feature(job: Int64, set: Int, item: Int, model: String) throws(StoreError) -> StoredFeature {
        let ref = try refs(job: job, sets: [set], items: [item])[0]
        return try features(model: model, refs: [ref])[0] ?? StoredFeature(vector: nil, error: nil)
    }

    /// Stored samples (set, item) → reference for the bank entries at `positions` of a task.
    public func refs(task: Int64, job: Int64, positions: [Int]) throws(StoreError) -> [String?] {
        let q = try db.prepare("SELECT set_index, item_index FROM samples WHERE task_id = ? AND position = ?")
        var sets = [Int](), items = [Int]()
        for p in positions {
            try q.bind([.int(task), .int(Int64(p))])
            if try q.step() { sets.append(Int(q.int(0))); items.append(Int(q.int(1))) } else { sets.append(-1); items.append(-1) }
        }
        return try refs(job: job, sets: sets, items: items)
    }

    static func bytes(_ v: [Float]) -> Data { v.withUnsafeBytes { Data($0) } }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}
