import AdaNeg
import Coordinator

/// OOD metrics of one task (OOD set) for each method computed in the same pass.
struct TaskMetrics {
    var name: String
    var group: String?
    var idCount: Int
    var oodCount: Int
    var errored: Int
    var metrics: [String: OODMetrics]

    static let methods = ["MCM", "NegLabel", "AdaNeg"]

    /// Errored samples (unreadable inputs) are counted and left out of the metrics.
    static func compute(name: String, group: String?, results: [ResultRecord]) throws -> TaskMetrics {
        let ok = results.filter { $0.error == nil && $0.pred != nil }
        let labels = ok.map(\.label)
        let pred = ok.map { $0.pred ?? -1 }
        var metrics = [String: OODMetrics]()
        let columns: [(String, [Float])] = [
            ("MCM", ok.map { $0.mcm ?? 0 }),
            ("NegLabel", ok.map { $0.confVanilla ?? 0 }),
            ("AdaNeg", ok.map { $0.conf ?? 0 }),
        ]
        for (method, conf) in columns {
            do {
                metrics[method] = try OODMetrics.compute(conf: conf, labels: labels, pred: pred)
            } catch {
                throw CommandFailure("metrics for \(name): \(error)")
            }
        }
        return TaskMetrics(name: name, group: group, idCount: labels.filter { $0 >= 0 }.count,
                           oodCount: labels.filter { $0 < 0 }.count, errored: results.count - ok.count, metrics: metrics)
    }

    static func table(_ tasks: [TaskMetrics], adaNegLabel: String) -> String {
        let sets = tasks.map(\.name)
        return MetricsTable.paper(sets: sets + ["Average"], methods: methods.map { $0 == "AdaNeg" ? adaNegLabel : $0 }) { method, set in
            let key = method == adaNegLabel ? "AdaNeg" : method
            if set == "Average" { return OODMetrics.mean(tasks.compactMap { $0.metrics[key] }) }
            return tasks.first { $0.name == set }?.metrics[key]
        }
    }
}
