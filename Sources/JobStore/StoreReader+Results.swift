import AdaNegCore
import Foundation
import JobPlan
import JobProtocol

/// Samples (each task's stream order) and the results stored for them.
extension StoreReader {
    public func samples(task: Int64, first: Int, count: Int) throws(StoreError) -> (sets: [Int], items: [Int], labels: [Int]) {
        try db.cached("SELECT set_index, item_index, label FROM samples WHERE task_id = ? AND position >= ? AND position < ? ORDER BY position") {
            s throws(StoreError) -> (sets: [Int], items: [Int], labels: [Int]) in
            try s.bind([.int(task), .int(Int64(first)), .int(Int64(first + count))])
            var sets = [Int](), items = [Int](), labels = [Int]()
            sets.reserveCapacity(count); items.reserveCapacity(count); labels.reserveCapacity(count)
            while try s.step() {
                sets.append(Int(s.int(0))); items.append(Int(s.int(1))); labels.append(Int(s.int(2)))
            }
            return (sets, items, labels)
        }
    }

    /// The whole stream of a task: per position, set index, item index and label.
    public func stream(task: Int64) throws(StoreError) -> (sets: [Int], items: [Int], labels: [Int]) {
        guard let t = try self.task(id: task) else { throw .unknownTask(task) }
        return try samples(task: task, first: 0, count: t.sampleCount)
    }

    /// Every result of a task with its label, in stream order.
    public func results(task: Int64) throws(StoreError) -> [ResultRecord] {
        let s = try db.prepare("""
            SELECT s.position, s.label, r.pred, r.conf, r.conf_vanilla, r.mcm, r.adaptive, r.error, r.pred_static
            FROM results r JOIN samples s ON s.task_id = r.task_id AND s.position = r.position
            WHERE r.task_id = ? ORDER BY r.position
            """)
        try s.bind([.int(task)])
        var out = [ResultRecord]()
        while try s.step() {
            func f(_ c: Int32) -> Float? { s.isNull(c) ? nil : Float(s.double(c)) }
            out.append(ResultRecord(position: Int(s.int(0)), label: Int(s.int(1)), pred: s.isNull(2) ? nil : Int(s.int(2)),
                                    conf: f(3), confVanilla: f(4), mcm: f(5), adaptive: f(6), error: s.text(7),
                                    predStatic: s.isNull(8) ? nil : Int(s.int(8))))
        }
        return out
    }

    public func resultCount(job: Int64) throws(StoreError) -> Int {
        Int(try db.scalar("SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ?", [.int(job)]) ?? 0)
    }
}
